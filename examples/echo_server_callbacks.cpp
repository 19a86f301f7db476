// TCP echo on the callback event_loop. Readiness is edge-triggered, so a connection is served
// until its socket would block (or its turn's budget is used up: then it continues next turn).
// Bytes are read into one buffer shared by all connections and echoed from there at once; only
// what the socket would not take yet moves into a buffer of the connection's own, and a
// connection reads only while it holds no such bytes: a peer that stops reading our echoes
// stops being read (backpressure), so memory stays bounded whatever it sends, and an idle
// connection costs a slot, not a buffer. Slots and buffers are reused: nothing is allocated per
// message.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <corio/corio.hpp>
#include <fmt/core.h>

#include "common/service.hpp"
#include "common/signals.hpp"

namespace {

using namespace std::chrono_literals;
using loop_type = corio::event_loop<int>;  // messages are unused
constexpr corio::token listener_token{0};  // connections use slot index + 1
constexpr std::size_t buffer_size = 32 * 1024;
constexpr int rounds_per_turn = 16;  // buffers echoed per event before others get a turn

struct connection {
  corio::net::tcp_stream stream;
  std::unique_ptr<std::byte[]> buffer;  // only while the socket would not take our echo
  std::size_t begin = 0, end = 0;  // bytes read but not yet echoed: buffer[begin, end)
  bool wants_write = false;        // registered for writable (echo pending) instead of readable
};

struct server {
  const examples::options* opts = nullptr;  // for the status line
  corio::net::tcp_listener listener;
  std::vector<connection> slots;
  std::vector<std::size_t> free_slots;
  std::vector<std::unique_ptr<std::byte[]>> spare_buffers;
  // Every read lands here and is echoed from here before the next connection runs.
  std::unique_ptr<std::byte[]> scratch = std::make_unique<std::byte[]>(buffer_size);

  std::unique_ptr<std::byte[]> take_buffer() {
    if (spare_buffers.empty()) return std::make_unique<std::byte[]>(buffer_size);
    auto b = std::move(spare_buffers.back());
    spare_buffers.pop_back();
    return b;
  }
  void give_back(std::unique_ptr<std::byte[]>& b) {
    if (b) spare_buffers.push_back(std::move(b));
  }
  bool retry_armed = false;
  bool warned = false;

  static std::size_t slot_of(corio::token t) { return static_cast<std::size_t>(t) - 1; }
  static corio::token token_of(std::size_t i) { return corio::token{i + 1}; }

  void readable(loop_type& loop, corio::token t) {
    return t == listener_token ? accept_all(loop) : pump(loop, slot_of(t));
  }
  void writable(loop_type& loop, corio::token t) { pump(loop, slot_of(t)); }

  // The per-message path is pump()'s loop; everything else is [[gnu::noinline]] so that it does
  // not widen that loop's frame.

  // The listener's retry after running out of fds, or a connection that used up its turn.
  void timeout(loop_type& loop, corio::token t) {
    if (t != listener_token) {
      const std::size_t i = slot_of(t);
      if (slots[i].stream.native_handle() < 0) return;  // it outlived its connection
      return pump(loop, i);
    }
    retry_armed = false;
    if (listener.native_handle() >= 0) accept_all(loop);
  }

  // SIGINT/SIGTERM: stop accepting, close every connection in order, then leave run().
  // SIGHUP is ignored and SIGUSR1 reports status (common/signals.hpp).
  void signal(loop_type& loop, corio::signal_info info) {
    if (info.signo == SIGHUP) return;
    if (info.signo == SIGUSR1) return examples::report_status(*opts);
    (void)loop.remove(listener);
    // Completed connections nobody accepted yet would be reset by close(): end them with a FIN.
    while (auto got = listener.accept()) (void)got->first.shutdown(corio::net::shutdown_how::write);
    listener.close();
    for (std::size_t i = 0; i < slots.size(); ++i) close(loop, i);
    loop.shutdown();
  }

  [[gnu::noinline]] void accept_all(loop_type& loop) {
    while (true) {
      auto got = listener.accept();
      if (got) {
        warned = false;
        const std::size_t i = take_slot();
        slots[i].stream = std::move(got->first);
        // Edge-triggered add reports data that is already there, so no pump() here.
        if (!loop.add(slots[i].stream, token_of(i), corio::interest::readable)) close(loop, i);
        continue;
      }
      if (corio::would_block(got.error())) return;
      if (got.error() == std::errc::connection_aborted) continue;  // that one is gone
      // Out of fds (or worse): the queued connection raises no new edge, so retry on a timer;
      // looping here would spin.
      if (!std::exchange(warned, true)) {
        fmt::print(stderr, "warning: accept: {}; retrying\n", got.error().message());
      }
      if (!std::exchange(retry_armed, true)) (void)loop.timeout(listener_token, 50ms);
      return;
    }
  }

  // Echoes until the socket would block, switching interest between readable and writable.
  // A read shorter than the buffer emptied the kernel's queue: once it is echoed, wait for the
  // next edge instead of a read that would only say EAGAIN (1 read + 1 write per message). A
  // FIN that came with those bytes raised its edge already; the loop reports that hang-up once
  // more on the next turn (loop_core.hpp), and the read then sees the end of stream.
  void pump(loop_type& loop, std::size_t i) {
    connection& c = slots[i];
    if (c.buffer && !flush(loop, i)) return;  // writable again: first what is still pending
    for (int round = 0; round < rounds_per_turn; ++round) {
      auto n = c.stream.read(std::span(scratch.get(), buffer_size));
      if (!n) return corio::would_block(n.error()) ? want(loop, i, false) : drop(loop, i);
      if (*n == 0) return close(loop, i);  // everything echoed: the half-close completes
      auto w = c.stream.write(std::span<const std::byte>(scratch.get(), *n));
      if (!w || *w < *n) [[unlikely]] return echo_rest(loop, i, *n, w);
      if (*n < buffer_size) return want(loop, i, false);  // drained: wait for the next edge
    }
    // Still busy: continue next turn so that other connections and signals get served.
    if (!loop.timeout(token_of(i), 0ms)) drop(loop, i);
  }

  // The first write of an echo of `size` bytes took fewer (or failed): write on from the shared
  // buffer; what the socket would not take moves into the connection's own buffer, and the
  // connection waits for writable, unread until that is out. Bounded: the socket takes bytes
  // or says it would block.
  [[gnu::noinline]] void echo_rest(loop_type& loop, std::size_t i, std::size_t size,
                 corio::result<std::size_t> w) {
    connection& c = slots[i];
    std::size_t done = 0;
    while (w) {
      done += *w;
      if (done == size) return pump_again(loop, i, size);
      w = c.stream.write(std::span<const std::byte>(scratch.get() + done, size - done));
    }
    if (!corio::would_block(w.error())) return drop(loop, i);
    c.buffer = take_buffer();
    std::memcpy(c.buffer.get(), scratch.get() + done, size - done);
    c.begin = 0;
    c.end = size - done;
    want(loop, i, true);
  }

  // All of a read of `size` bytes was echoed after all: carry on as pump() would have.
  void pump_again(loop_type& loop, std::size_t i, std::size_t size) {
    if (size < buffer_size) return want(loop, i, false);
    if (!loop.timeout(token_of(i), 0ms)) drop(loop, i);  // the rest of this turn's budget: next turn
  }

  // Writes what the socket would not take before. True once all of it is out (the buffer goes
  // back to the pool); false if it still would not, or the connection was dropped.
  [[gnu::noinline]] bool flush(loop_type& loop, std::size_t i) {
    connection& c = slots[i];
    while (c.begin < c.end) {
      auto n = c.stream.write(std::span<const std::byte>(c.buffer.get() + c.begin, c.end - c.begin));
      if (!n) {
        if (!corio::would_block(n.error())) drop(loop, i);
        return false;  // still registered for writable
      }
      c.begin += *n;
    }
    give_back(c.buffer);
    c.begin = c.end = 0;
    return true;
  }

  void want(loop_type& loop, std::size_t i, bool write) {
    if (slots[i].wants_write != write) switch_interest(loop, i, write);
  }

  [[gnu::noinline]] void switch_interest(loop_type& loop, std::size_t i, bool write) {
    connection& c = slots[i];
    c.wants_write = write;
    const auto which = write ? corio::interest::writable : corio::interest::readable;
    if (!loop.modify(c.stream, token_of(i), which)) drop(loop, i);
  }

  // An orderly close: FIN after what was echoed. Unread input would turn close() into a reset,
  // so drain what already arrived (bounded: a peer may keep sending).
  [[gnu::noinline]] void close(loop_type& loop, std::size_t i) {
    connection& c = slots[i];
    if (c.stream.native_handle() < 0) return;
    (void)c.stream.shutdown(corio::net::shutdown_how::write);
    for (int k = 0; k < rounds_per_turn; ++k) {
      if (c.stream.read(std::span(scratch.get(), buffer_size)).value_or(0) == 0) break;
    }
    drop(loop, i);
  }

  // A reset or failed peer goes quietly; the slot and its buffer wait for the next client.
  [[gnu::noinline]] void drop(loop_type& loop, std::size_t i) {
    connection& c = slots[i];
    if (c.stream.native_handle() < 0) return;
    (void)loop.remove(c.stream);
    c.stream.close();
    give_back(c.buffer);
    c.begin = c.end = 0;
    c.wants_write = false;
    free_slots.push_back(i);
  }

  std::size_t take_slot() {
    if (free_slots.empty()) {
      slots.emplace_back();
      free_slots.reserve(slots.size());  // so drop() never allocates
      free_slots.push_back(slots.size() - 1);
    }
    const std::size_t i = free_slots.back();
    free_slots.pop_back();
    return i;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(
      argc, argv, "TCP echo server on the callback event loop");
  auto loop = loop_type::create(examples::loop_options(opts));
  auto listener = corio::net::tcp_listener::bind(examples::loopback(opts));
  if (!loop || !listener) {
    fmt::print(stderr, "setup: {}\n", (loop ? listener.error() : loop.error()).message());
    return 1;
  }
  server handler;
  handler.opts = &opts;
  handler.listener = std::move(*listener);
  auto bound = handler.listener.local_address();
  if (!bound || !loop->add(handler.listener, listener_token, corio::interest::readable) ||
      !std::ranges::all_of(examples::service_signals,
                           [&](int signo) { return loop->watch_signal(signo).has_value(); })) {
    fmt::print(stderr, "event loop setup failed\n");
    return 1;
  }
  examples::announce(*bound);  // signals are watched: a script may send one right after this
  auto r = loop->run(handler);
  if (!r) fmt::print(stderr, "run: {}\n", r.error().message());
  return r ? 0 : 1;
}
