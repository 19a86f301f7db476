// Channel messages, a self re-arming timeout and UDP readiness on one loop. Five messages add
// 0..4 to a total; every timeout sends a one-byte datagram to our own socket, and every datagram
// received takes one off. The program ends when the total is back to zero.
#include <array>
#include <cstddef>

#include <corio/corio.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

constexpr corio::token receiver_token{1};
constexpr corio::token tick_token{2};

struct app {
  corio::net::udp_socket receiver;
  corio::net::udp_socket sender;
  corio::net::socket_address target;
  std::chrono::milliseconds interval;
  int total = 0;
  int status = 0;

  void notify(corio::event_loop<int>& loop, int increment) {
    total += increment;
    fmt::print("Increment by: {}, Total: {}\n", increment, total);
    (void)loop;
  }

  void timeout(corio::event_loop<int>& loop, corio::token) {
    fmt::print("Timeout\n");
    const std::array<std::byte, 1> payload{std::byte{1}};
    if (auto sent = sender.send_to(payload, target); !sent) {
      fail(loop, "send_to", sent.error());
      return;
    }
    if (auto armed = loop.timeout(tick_token, interval); !armed) fail(loop, "timeout", armed.error());
  }

  void readable(corio::event_loop<int>& loop, corio::token) {
    std::array<std::byte, 64> buffer{};
    // Edge-triggered: drain until the socket would block.
    while (true) {
      auto got = receiver.recv_from(buffer);
      if (!got) {
        if (!corio::would_block(got.error())) fail(loop, "recv_from", got.error());
        return;
      }
      fmt::print("Decremented, Total: {}\n", --total);
      if (total == 0) {
        loop.shutdown();
        return;
      }
    }
  }

  void fail(corio::event_loop<int>& loop, const char* what, std::error_code ec) {
    fmt::print(stderr, "{}: {}\n", what, ec.message());
    status = 1;
    loop.shutdown();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {.interval = true},
      "Channel messages, a re-arming timeout and UDP on one loop (callbacks)");
  auto loop = corio::event_loop<int>::create(examples::loop_options(opts));
  const corio::net::socket_address local(corio::net::ip_address::loopback_v4(), 0);
  auto receiver = corio::net::udp_socket::bind(local);
  auto sender = corio::net::udp_socket::bind(local);
  if (!loop || !receiver || !sender) {
    fmt::print(stderr, "setup failed\n");
    return 1;
  }
  auto target = receiver->local_address();
  if (!target) return 1;

  app handler{std::move(*receiver), std::move(*sender), *target,
              std::chrono::milliseconds(opts.interval_ms)};
  if (!loop->add(handler.receiver, receiver_token, corio::interest::readable)) return 1;
  auto tx = loop->sender();
  for (int i = 0; i < 5; ++i) {
    if (!tx.send(i)) return 1;
  }
  if (!loop->timeout(tick_token, handler.interval)) return 1;
  if (auto r = loop->run(handler); !r) {
    fmt::print(stderr, "run: {}\n", r.error().message());
    return 1;
  }
  return handler.status;
}
