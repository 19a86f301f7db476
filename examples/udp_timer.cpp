// Channel messages, a periodic timer and UDP on one thread, with tasks. Five messages add 0..4
// to a total; every tick sends a one-byte datagram to our own socket, and every datagram
// received takes one off. The program ends when the total is back to zero.
#include <array>
#include <chrono>
#include <cstddef>
#include <exception>

#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>
#include <corio/time.hpp>
#include <corio/udp.hpp>
#include <corio/when.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

// Runs until it fails (1); when_any cancels it once the total is back to zero.
corio::task<int> tick(corio::udp_socket& sender, corio::net::socket_address target,
                      std::chrono::milliseconds period) {
  // The first tick one period from now (an interval's default first tick is immediate).
  corio::interval every(std::chrono::steady_clock::now() + period, period);
  const std::array<std::byte, 1> payload{std::byte{1}};
  while (co_await every.tick()) {
    fmt::print("Timeout\n");
    if (auto sent = co_await sender.send_to(payload, target); !sent) {
      fmt::print(stderr, "send_to: {}\n", sent.error().message());
      co_return 1;
    }
  }
  co_return 0;  // cancelled
}

corio::task<int> count_down(corio::udp_socket& receiver, int& total) {
  std::array<std::byte, 64> buffer{};
  while (total > 0) {
    if (auto got = co_await receiver.recv_from(buffer); !got) {
      fmt::print(stderr, "recv_from: {}\n", got.error().message());
      co_return 1;
    }
    fmt::print("Decremented, Total: {}\n", --total);
  }
  co_return 0;
}

corio::task<int> run(corio::channel_receiver<int> increments, std::chrono::milliseconds period) {
  int total = 0;
  while (auto n = co_await increments.recv()) {  // all five were sent before we started
    total += *n;
    fmt::print("Increment by: {}, Total: {}\n", *n, total);
  }
  const corio::net::socket_address local(corio::net::ip_address::loopback_v4(), 0);
  auto receiver = corio::udp_socket::bind(local);
  auto sender = corio::udp_socket::bind(local);
  auto target = receiver ? receiver->local_address() : receiver.error();
  if (!sender || !target) {
    fmt::print(stderr, "setup failed\n");
    co_return 1;
  }
  // Whichever ends first decides: the count reaching zero, or a failure of either side.
  auto first = co_await corio::when_any(count_down(*receiver, total),
                                        tick(*sender, *target, period));
  co_return first.index == 0 ? std::get<0>(first.value) : std::get<1>(first.value);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {.interval = true},
      "Channel messages, a periodic timer and UDP on one thread (co_await)");
  auto [tx, rx] = corio::make_unbounded_channel<int>();
  for (int i = 0; i < 5; ++i) {
    if (!tx.try_send(i)) return 1;
  }
  tx.reset();  // the channel ends after the fifth message
  try {
    return corio::block_on(run(std::move(rx), std::chrono::milliseconds(opts.interval_ms)),
                           corio::runtime_options{opts.backend});
  } catch (const std::exception& e) {
    fmt::print(stderr, "udp_timer: {}\n", e.what());
    return 1;
  }
}
