// A TCP proxy: every client connection gets a connection to --upstream HOST:PORT (HOST resolved
// by name, each address tried in turn), and bytes are relayed both ways until both directions
// ended, a side failed, or nothing moved for --idle-timeout-ms.
//
//   proxy --port 8080 --upstream db.internal:5432 --threads 4 --idle-timeout-ms 30000
//
// The relay is corio::copy_bidirectional (corio/io/copy.hpp): a client's half-close reaches the
// upstream as a FIN and the replies still flow back, and the other way round. A client whose
// upstream refuses, cannot be resolved, or does not answer within --connect-timeout-ms is
// closed at once. It runs on a corio::runtime with --threads workers (1 by default), serving
// through corio::tcp_server (examples/common/run_service.hpp, --accept as in echo_server).
// Signals as every service (common/signals.hpp): on SIGINT/SIGTERM it stops accepting, cancels
// every relay, closes both sides and exits 0; SIGHUP is ignored, SIGUSR1 prints a status line.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <corio/resolve.hpp>
#include <corio/runtime.hpp>
#include <corio/serve.hpp>
#include <corio/stream.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <fmt/core.h>

#include "common/options.hpp"
#include "common/run_service.hpp"
#include "common/service.hpp"

namespace {

// The proxy's own flags; the shared ones (--port, --backend, --threads, --accept) are in
// examples::options.
struct proxy_config {
  std::string upstream_host;
  std::uint16_t upstream_port = 0;
  std::chrono::milliseconds idle_timeout{0};
  std::chrono::milliseconds connect_timeout{5000};
  std::string dns_servers;  // empty: the system's
};

// A FIN rather than a reset for the client: drain what it already sent (without waiting).
void close_gently(corio::tcp_stream& s) {
  (void)s.shutdown_write();  // best effort: the peer may be gone already
  std::array<std::byte, 4096> sink;
  for (int k = 0; k < 16 && s.raw().read(sink).value_or(0) > 0; ++k) {
  }
  s.close();
}

corio::task<> relay(corio::tcp_stream client, const proxy_config& config) {
  corio::connect_options how;
  how.resolve.servers = config.dns_servers;
  auto upstream = co_await corio::timeout(
      config.connect_timeout, corio::connect(config.upstream_host, config.upstream_port, how));
  if (!upstream) {
    close_gently(client);
    co_return;
  }
  // Both directions have finished when this returns, however it ended.
  auto moved = co_await corio::copy_bidirectional(client, *upstream,
                                                  {.idle_timeout = config.idle_timeout});
  (void)moved;  // the outcome changes nothing: both sides close either way
  close_gently(*upstream);
  close_gently(client);
}

corio::task<int> serve(const examples::options& opts, const proxy_config& config,
                       corio::runtime& rt) {
  auto handler = [&config](corio::tcp_stream client) { return relay(std::move(client), config); };
  co_return co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), handler);
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opts;
  opts.program = examples::program_name(argc, argv);
  examples::default_backend_from_env(opts);
  proxy_config config;
  std::string upstream;
  unsigned idle_ms = 0;
  unsigned connect_ms = 5000;
  examples::command_line cl("TCP proxy: relays each client connection to an upstream, both ways.",
                            argc, argv);
  examples::add_common_options(cl, opts, examples::service_flags(1024));
  cl.option("--upstream", upstream, "HOST:PORT to relay to (required); HOST may be a name");
  cl.option("--idle-timeout-ms", idle_ms,
            "close a connection after this long without traffic either way (0 = never)");
  cl.option("--connect-timeout-ms", connect_ms, "give up on the upstream after this long")
      .range(1, 3600000);
  cl.option("--dns-server", config.dns_servers,
            "name servers to ask, e.g. 127.0.0.1:5353 (default: the system's)");
  // --upstream is checked after parsing, so that an unknown option is reported as such first.
  cl.parse();
  examples::require_built_backend(opts);
  if (upstream.empty()) examples::usage_error(opts.program, "--upstream is required");
  auto split = corio::split_host_port(upstream);
  if (!split) {
    examples::usage_error(opts.program,
                          fmt::format("--upstream {}: {}", upstream, split.error().message()));
  }
  config.upstream_host = std::string(split->first);
  config.upstream_port = split->second;
  config.idle_timeout = std::chrono::milliseconds(idle_ms);
  config.connect_timeout = std::chrono::milliseconds(connect_ms);
  return examples::run_service(
      opts, [&opts, &config](corio::runtime& rt) { return serve(opts, config, rt); });
}
