// A message posted before the loop runs is delivered once it starts.
#include <string>

#include <corio/corio.hpp>
#include <fmt/core.h>

#include "common/options.hpp"

namespace {

struct printer {
  void notify(corio::event_loop<std::string>& loop, std::string message) {
    fmt::print("\"{}\"\n", message);
    loop.shutdown();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_options(
      argc, argv, {}, "Prints a message posted before the event loop runs (callbacks)");
  auto loop = corio::event_loop<std::string>::create(examples::loop_options(opts));
  if (!loop) {
    fmt::print(stderr, "event loop: {}\n", loop.error().message());
    return 1;
  }
  if (auto sent = loop->sender().send("Hello"); !sent) return 1;
  printer handler;
  if (auto r = loop->run(handler); !r) {
    fmt::print(stderr, "run: {}\n", r.error().message());
    return 1;
  }
  return 0;
}
