// TCP echo with coroutines: one task per connection reads and writes back until the peer ends.
// write_all suspends while the peer is not reading, so the task stops reading too and memory
// stays bounded.
//
// The echo runs on every worker of a corio::runtime (--threads N, 1 by default) through
// corio::tcp_server (corio/serve.hpp): --accept reuse-port (default) gives each worker its own
// SO_REUSEPORT listener on the one port, --accept round-robin has one acceptor hand connections
// to the workers in turn. On SIGINT/SIGTERM the server stops accepting, ends the queued
// connections with a FIN, cancels every connection task and waits for them.
#include <array>
#include <cstddef>
#include <span>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>

#include "common/run_service.hpp"

namespace {

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

corio::task<int> serve(const examples::options& opts, corio::runtime& rt) {
  co_return co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), echo);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(
      argc, argv, "TCP echo server (coroutines): every byte back to its sender", 1024);
  return examples::run_service(opts, [&opts](corio::runtime& rt) { return serve(opts, rt); });
}
