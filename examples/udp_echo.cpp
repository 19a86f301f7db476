// UDP echo with coroutines: every datagram, 0 to 65,507 bytes, goes back to its sender as is.
// One task echoes; main waits for SIGINT/SIGTERM (signals as in common/signals.hpp), cancels
// it through its join handle and waits for it to finish. With --threads N > 1 every worker of a corio::runtime echoes on its own
// SO_REUSEPORT socket bound to the one port (corio::udp_server; the kernel spreads senders
// among them).
#include <chrono>
#include <csignal>
#include <cstddef>
#include <exception>
#include <span>
#include <system_error>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <corio/time.hpp>
#include <corio/udp.hpp>
#include <fmt/core.h>

#include "common/run_service.hpp"

namespace {

using namespace std::chrono_literals;

corio::task<> echo(corio::udp_socket& socket) {
  // Larger than any IPv4 datagram (65,507 bytes), so nothing is ever truncated. Allocated once.
  std::vector<std::byte> buffer(65536);
  for (unsigned round = 1;; ++round) {
    auto got = co_await socket.recv_from(buffer);
    if (!got) {
      if (got.error() == std::errc::operation_canceled) co_return;
      // Transient (e.g. ENOMEM): report it and pause, so a persistent one cannot spin.
      fmt::print(stderr, "warning: recv_from: {}\n", got.error().message());
      if (!co_await corio::sleep_for(50ms)) co_return;  // stopped
      continue;
    }
    const auto [size, sender] = *got;
    // A failed send loses this one datagram, as UDP may; the server carries on.
    auto sent = co_await socket.send_to(std::span(buffer).first(size), sender);
    if (!sent && sent.error() == std::errc::operation_canceled) co_return;
    if (round % 64 == 0) co_await corio::yield();  // a flood must not starve the signal
  }
}

// One thread: one socket, without SO_REUSEPORT (a second server on the port fails to bind).
corio::task<int> serve(const examples::options& opts) {
  corio::signal_set signals;  // before the line is printed: a script may signal right after it
  if (!examples::watch_service_signals(signals)) co_return 1;
  auto socket = corio::udp_socket::bind(examples::loopback(opts));
  auto bound = socket ? socket->local_address()
                      : corio::result<corio::net::socket_address>(socket.error());
  if (!bound) {
    fmt::print(stderr, "bind: {}\n", bound.error().message());
    co_return 1;
  }
  examples::announce(*bound);

  auto echoer = corio::spawn(echo(*socket));  // *socket outlives it: we await it below
  auto received = co_await examples::until_stop_signal(signals, opts);
  echoer.request_stop();
  co_await echoer;
  co_return received ? 0 : 1;
}

// --threads N > 1: a corio::udp_server gives every worker its own SO_REUSEPORT socket and
// runs echo() on each.
corio::task<int> serve_threads(const examples::options& opts, corio::runtime& rt) {
  co_return co_await examples::serve_until_signal(
      opts, corio::udp_server::bind(rt, examples::loopback(opts)), echo);
}

}  // namespace

int main(int argc, char** argv) {
  // No --accept: a datagram has no connection to hand over, every worker receives on its own
  // socket.
  const auto opts = examples::parse_options(
      argc, argv, {.port = true, .threads = true, .max_threads = 1024},
      "UDP echo server: every datagram back to its sender");
  return examples::run_service(opts, [&opts](corio::runtime& rt) {
    return opts.threads > 1 ? serve_threads(opts, rt) : serve(opts);
  });
}
