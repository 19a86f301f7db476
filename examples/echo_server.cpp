// TCP echo with coroutines: a listener task spawns one task per connection, which reads and
// writes back until the peer ends. write_all suspends while the peer is not reading, so the
// task stops reading too and memory stays bounded. On SIGINT/SIGTERM the listener stops, every
// connection task is cancelled through its join handle, and the server waits until each one
// has closed its socket.
//
// With --threads N > 1 the same echo runs on every worker of a corio::runtime through
// corio::tcp_server (corio/serve.hpp): --accept reuse-port (default) gives each worker its own
// SO_REUSEPORT listener on the one port, --accept round-robin has one acceptor hand connections
// to the workers in turn. On a signal the server stops accepting, ends the queued connections
// with a FIN, cancels every connection task and waits for them.
#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <exception>
#include <span>
#include <system_error>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <fmt/core.h>

#include "common/accept_loop.hpp"
#include "common/service.hpp"
#include "common/sharded.hpp"

namespace {

using namespace std::chrono_literals;

corio::task<> echo(corio::tcp_stream stream) {
  // In the task's frame (from the frame pool): no allocation per connection once warm, and
  // small enough that 10,000 idle connections stay under 8 KiB each.
  std::array<std::byte, 4096> buffer;
  for (unsigned round = 1;; ++round) {
    auto n = co_await stream.read(buffer);
    if (!n || *n == 0) break;  // end of stream, reset, or cancelled
    if (!co_await stream.write_all(std::span(buffer).first(*n))) break;
    if (round % 16 == 0) co_await corio::yield();  // a busy peer must not starve others
  }
  // An orderly close: FIN after what was echoed. Unread input would turn close() into a reset,
  // so drain what already arrived, without waiting (a cancelled task's awaits end at once).
  (void)stream.shutdown_write();
  for (int k = 0; k < 16 && stream.raw().read(buffer).value_or(0) > 0; ++k) {
  }
  stream.close();
}

corio::task<int> serve(examples::options opts) {
  // Watched before the line is printed: a script may signal as soon as it reads it.
  corio::signal_set signals;
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  auto listener = corio::tcp_listener::bind(examples::loopback(opts));
  auto bound = listener ? listener->local_address() : corio::result<corio::net::socket_address>(
                                                          listener.error());
  if (!bound) {
    fmt::print(stderr, "listen: {}\n", bound.error().message());
    co_return 1;
  }
  examples::announce(*bound);

  std::vector<corio::join_handle<>> clients;
  auto start = [](corio::tcp_stream s) { return echo(std::move(s)); };
  auto acceptor = corio::spawn(examples::accept_clients(*listener, clients, start));
  auto received = co_await signals.wait();

  // Stop accepting first, so that the list of clients is final, then cancel them all.
  acceptor.request_stop();
  co_await acceptor;
  examples::close_backlog(*listener);
  listener->close();
  for (auto& c : clients) c.request_stop();
  for (auto& c : clients) co_await c;
  co_return received ? 0 : 1;
}

// --threads N > 1: a corio::tcp_server spreads the connections over the runtime's workers
// (--accept reuse-port: a listener per worker; round-robin: one acceptor hands them out).
corio::task<int> serve_threads(examples::options opts, corio::runtime& rt) {
  corio::serve_options options;
  options.distribution = opts.accept;
  options.on_accept_error = [](std::error_code ec, bool first) {
    if (first) fmt::print(stderr, "warning: accept: {}; retrying\n", ec.message());
  };
  co_return co_await examples::serve_until_signal(
      corio::tcp_server::bind(rt, examples::loopback(opts), std::move(options)), echo);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(argc, argv, 1024);
  return examples::run_service_on_runtime("echo_server", opts, serve, serve_threads);
}
