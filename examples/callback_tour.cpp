// The callback style in full, on one thread, over 127.0.0.1: a raw listening socket registered
// on the loop, a non-blocking connect that completes when the socket turns writable (then
// SO_ERROR says whether it worked), an idle timeout re-armed on every read, and a zero-length
// read. The README's callback tour shows this program; its output is checked by
// tests/examples/expected/callback_tour.txt.
//
//   client: connect → ping 1 → (40 ms) → ping 2          server: accept, echo, idle 100 ms → close
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include <corio/event_loop.hpp>
#include <corio/net/tcp.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

using namespace std::chrono_literals;
using loop_type = corio::event_loop<int>;  // no messages here

// Tokens name what an event is about; timeouts have their own callback, so they may reuse one.
constexpr corio::token listener_token{1};
constexpr corio::token client_token{2};  // also the client's timer for its second ping
constexpr corio::token server_token{3};  // also the server's idle timeout
constexpr corio::token guard_token{4};   // the whole tour's time limit

constexpr auto idle_limit = 100ms;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

struct tour {
  corio::net::tcp_listener listener;
  corio::net::tcp_stream client;  // connecting, then connected
  corio::net::tcp_stream server;  // the accepted side
  corio::timeout_handle idle;     // the server's idle timeout, re-armed on every read
  std::chrono::steady_clock::time_point last_bytes;
  bool connected = false;
  int pings_back = 0;
  int status = 1;  // 0 once the tour ended as it should

  void readable(loop_type& loop, corio::token t) {
    if (t == listener_token) return accept(loop);
    if (t == server_token) return serve(loop);
    if (t == client_token) return client_reads(loop);
  }

  // A connect in progress completes by making the socket writable, whether it worked or not.
  void writable(loop_type& loop, corio::token t) {
    if (t != client_token || connected) return;
    if (auto failed = client.take_error()) return stop(loop, "connect: " + failed.message());
    connected = true;
    fmt::print("client: connected (writable, and SO_ERROR is 0)\n");
    // From now on only its input matters.
    if (!loop.modify(client, client_token, corio::interest::readable)) return stop(loop, "modify");
    // A zero-length read asks for nothing and returns 0 at once: it is not the end of stream.
    if (auto n = client.read({}); n && *n == 0) {
      fmt::print("client: a zero-length read returns 0 at once\n");
    }
    send_ping(loop, 1);
  }

  void timeout(loop_type& loop, corio::token t) {
    if (t == guard_token) return stop(loop, "the tour took too long");
    if (t == client_token) return send_ping(loop, 2);
    if (t == server_token) {
      // Bytes may have come since this turn collected its readiness events (after a stall,
      // the client's timer, due in the same turn, may just have sent ping 2): read first,
      // and bytes re-arm the timeout. Closing with unread input would send a reset.
      const auto before = last_bytes;
      serve(loop);
      if (last_bytes != before || server.native_handle() < 0) return;
      const auto quiet = std::chrono::steady_clock::now() - last_bytes;
      fmt::print("server: {}, closing\n", quiet >= idle_limit
                                                ? "idle for 100 ms since the last bytes"
                                                : "the idle timeout fired EARLY");
      (void)loop.remove(server);  // before close(): the fd number may be reused at once
      (void)server.shutdown(corio::net::shutdown_how::write);
      server.close();
    }
  }

  void accept(loop_type& loop) {
    auto got = listener.accept();  // edge-triggered: one connection is all this tour expects
    if (!got) return stop(loop, "accept: " + got.error().message());
    server = std::move(got->first);
    // Registering reports input that is already there, so nothing is missed.
    if (!loop.add(server, server_token, corio::interest::readable)) return stop(loop, "add");
    rearm_idle(loop);
  }

  // Echoes until the socket would block (edge-triggered: nothing more will be reported).
  void serve(loop_type& loop) {
    std::byte buffer[256];
    for (;;) {
      auto n = server.read(buffer);
      if (!n) {
        if (corio::would_block(n.error())) return;
        return stop(loop, "server read: " + n.error().message());
      }
      if (*n == 0) return;  // the client finished; the idle timeout closes our side
      if (!server.write(std::span(buffer, *n))) return stop(loop, "server write");
      fmt::print("server: read {} bytes, echoed them, re-armed the idle timeout\n", *n);
      rearm_idle(loop);
    }
  }

  // Re-arming: clear the pending timeout, arm a new one. A cleared timeout never fires, even
  // one already due in this turn.
  void rearm_idle(loop_type& loop) {
    (void)loop.clear_timeout(idle);  // false the first time: nothing was armed
    last_bytes = std::chrono::steady_clock::now();
    if (auto h = loop.timeout(server_token, idle_limit)) idle = *h;
  }

  void client_reads(loop_type& loop) {
    char buffer[256];
    for (;;) {
      auto n = client.read(std::as_writable_bytes(std::span(buffer)));
      if (!n) {
        if (corio::would_block(n.error())) return;
        return stop(loop, "client read: " + n.error().message());
      }
      if (*n == 0) {  // from a non-empty read, 0 is the end of the stream
        fmt::print("client: end of stream; done\n");
        status = pings_back == 2 ? 0 : 1;
        (void)loop.remove(client);
        client.close();
        return loop.shutdown();
      }
      ++pings_back;
      fmt::print("client: got back \"{}\"\n", std::string_view(buffer, *n - 1));
      if (pings_back == 1 && !loop.timeout(client_token, 40ms)) return stop(loop, "timeout");
    }
  }

  void send_ping(loop_type& loop, int k) {
    const std::string ping = fmt::format("ping {}\n", k);
    // A few bytes into an empty socket buffer: written whole.
    if (auto n = client.write(bytes(ping)); !n || *n != ping.size()) stop(loop, "client write");
  }

  void stop(loop_type& loop, const std::string& why) {
    fmt::print("failed: {}\n", why);
    loop.shutdown();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {}, "The callback style: connect, echo and an idle timeout on 127.0.0.1");
  auto loop = loop_type::create(examples::loop_options(opts));
  if (!loop) {
    fmt::print(stderr, "event loop: {}\n", loop.error().message());
    return 1;
  }
  tour t;
  auto listening = corio::net::tcp_listener::bind(
      *corio::net::socket_address::parse("127.0.0.1:0"));
  if (!listening) {
    fmt::print(stderr, "bind: {}\n", listening.error().message());
    return 1;
  }
  t.listener = std::move(*listening);
  auto at = t.listener.local_address();
  // connect() returns while the handshake is in progress; `writable` tells when it ended.
  auto connecting = at ? corio::net::tcp_stream::connect(*at)
                       : corio::result<corio::net::tcp_stream>(at.error());
  if (!connecting) {
    fmt::print(stderr, "connect: {}\n", connecting.error().message());
    return 1;
  }
  t.client = std::move(*connecting);
  if (!loop->add(t.listener, listener_token, corio::interest::readable) ||
      !loop->add(t.client, client_token, corio::interest::writable) ||
      !loop->timeout(guard_token, 5s)) {
    fmt::print(stderr, "registering failed\n");
    return 1;
  }
  if (auto r = loop->run(t); !r) {
    fmt::print(stderr, "run: {}\n", r.error().message());
    return 1;
  }
  return t.status;
}
