// A message sent into a channel before the runtime starts is received by a task once it runs.
#include <exception>
#include <string>

#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

corio::task<int> print_one(corio::channel_receiver<std::string> rx) {
  auto message = co_await rx.recv();
  if (!message) co_return 1;
  fmt::print("\"{}\"\n", *message);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {}, "Prints a message sent into a channel before the runtime starts (co_await)");
  // Senders work from any thread, corio or not, so main can send before anything runs.
  auto [tx, rx] = corio::make_unbounded_channel<std::string>();
  if (!tx.try_send(std::string("Hello"))) return 1;
  try {
    return corio::block_on(print_one(std::move(rx)), corio::runtime_options{opts.backend});
  } catch (const std::exception& e) {
    fmt::print(stderr, "hello: {}\n", e.what());
    return 1;
  }
}
