// TCP echo with coroutines: one task per connection reads and writes back until the peer ends.
// write_all suspends while the peer is not reading, so the task stops reading too and memory
// stays bounded.
//
// The echo runs on every worker of a corio::runtime (--threads N, 1 by default) through
// corio::tcp_server (corio/serve.hpp): --accept reuse-port (default) gives each worker its own
// SO_REUSEPORT listener on the one port, --accept round-robin has one acceptor hand connections
// to the workers in turn. On SIGINT/SIGTERM the server stops accepting, ends the queued
// connections with a FIN, cancels every connection task and waits for them.
//
// --tls-cert FILE --tls-key FILE (both or neither) serve the same echo over TLS
// (tls/tls_service.hpp): a bounded handshake per connection, close_notify at the end.
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/tls.hpp>

#include "common/options.hpp"
#include "common/run_service.hpp"
#include "tls/tls_service.hpp"

namespace {

// Generic over the stream (examples::serve_plain_or_tls): plain TCP, or TLS with --tls-cert.
template <class Stream>
corio::task<> echo(Stream stream) {
  // In the task's frame (from the frame pool): no allocation per connection once warm, and
  // small enough that 10,000 idle connections stay under 8 KiB each.
  std::array<std::byte, 4096> buffer;
  bool clean_end = false;
  for (unsigned round = 1;; ++round) {
    auto n = co_await stream.read(buffer);
    if (!n) break;  // reset, truncated or cancelled
    if (*n == 0) {
      clean_end = true;  // end of stream (TLS: the peer's close_notify)
      break;
    }
    if (!co_await stream.write_all(std::span(buffer).first(*n))) break;
    if (round % 16 == 0) co_await corio::yield();  // a busy peer must not starve others
  }
  // An orderly close: close_notify for TLS, then FIN after what was echoed. Unread input would
  // turn close() into a reset, so end_stream drains what already arrived, without waiting (a
  // cancelled task's awaits end at once).
  co_await examples::end_stream(stream, clean_end);
}

// `tls` points at main's context (it outlives the runtime); null serves plain TCP.
corio::task<int> serve(const examples::options& opts, corio::runtime& rt,
                       const corio::tls::context* tls) {
  auto handler = [tls](corio::tcp_stream s) -> corio::task<> {
    if (tls == nullptr) return echo(std::move(s));
    return examples::serve_plain_or_tls(*tls, std::move(s),
                                        [](auto stream) { return echo(std::move(stream)); });
  };
  co_return co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), handler);
}

}  // namespace

int main(int argc, char** argv) {
  return examples::run_plain_or_tls_service(
      argc, argv, "TCP echo server (coroutines): every byte back to its sender", serve);
}
