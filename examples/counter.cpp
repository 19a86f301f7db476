// Messages sent into a channel before the runtime starts arrive in order; the receiving task
// keeps a running total. The sender is dropped first, so the channel ends after the last one.
#include <exception>

#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

corio::task<int> count(corio::channel_receiver<int> rx) {
  int total = 0;
  while (auto message = co_await rx.recv()) {
    total += *message;
    fmt::print("Message: {}, Total: {}\n", *message, total);
  }
  co_return 0;  // channel_closed: every message was delivered
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {}, "Sums messages sent into a channel before the runtime starts (co_await)");
  auto [tx, rx] = corio::make_unbounded_channel<int>();
  for (int i = 0; i < 5; ++i) {
    if (!tx.try_send(i)) return 1;
  }
  tx.reset();
  try {
    return corio::block_on(count(std::move(rx)), corio::runtime_options{opts.backend});
  } catch (const std::exception& e) {
    fmt::print(stderr, "counter: {}\n", e.what());
    return 1;
  }
}
