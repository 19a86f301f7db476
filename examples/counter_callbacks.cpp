// Messages sent before run() arrive in order; the handler keeps state between them.
#include <corio/corio.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

struct counter {
  int total = 0;
  int seen = 0;

  void notify(corio::event_loop<int>& loop, int message) {
    total += message;
    fmt::print("Message: {}, Total: {}\n", message, total);
    if (++seen == 5) loop.shutdown();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {}, "Sums messages posted before the event loop runs (callbacks)");
  auto loop = corio::event_loop<int>::create(examples::loop_options(opts));
  if (!loop) {
    fmt::print(stderr, "event loop: {}\n", loop.error().message());
    return 1;
  }
  auto tx = loop->sender();
  for (int i = 0; i < 5; ++i) {
    if (!tx.send(i)) return 1;
  }
  counter handler;
  if (auto r = loop->run(handler); !r) {
    fmt::print(stderr, "run: {}\n", r.error().message());
    return 1;
  }
  return 0;
}
