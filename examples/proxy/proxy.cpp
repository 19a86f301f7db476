// A TCP proxy: every client connection gets a connection to --upstream HOST:PORT (HOST resolved
// by name, each address tried in turn), and bytes are relayed both ways until both directions
// ended, a side failed, or nothing moved for --idle-timeout-ms.
//
//   proxy --port 8080 --upstream db.internal:5432 --threads 4 --idle-timeout-ms 30000
//
// The relay is corio::copy_bidirectional (corio/io/copy.hpp): a client's half-close reaches the
// upstream as a FIN and the replies still flow back, and the other way round. A client whose
// upstream refuses, cannot be resolved, or does not answer within --connect-timeout-ms is
// closed at once. With --threads N > 1, corio::tcp_server spreads connections over N workers
// (one thread: an accept loop on it). On SIGINT/SIGTERM it stops accepting, cancels every
// relay, closes both sides and exits 0.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <corio/resolve.hpp>
#include <corio/runtime.hpp>
#include <corio/serve.hpp>
#include <corio/signal_set.hpp>
#include <corio/stream.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <fmt/core.h>

#include "common/accept_loop.hpp"
#include "common/service.hpp"
#include "common/sharded.hpp"

namespace {

struct proxy_config {
  std::uint16_t port = 0;
  std::string upstream_host;
  std::uint16_t upstream_port = 0;
  corio::backend_kind backend = corio::backend_kind::automatic;
  unsigned threads = 1;
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

// --threads 1: everything on the calling thread (block_on), no runtime.
corio::task<int> serve_here(const proxy_config& config) {
  corio::signal_set signals;  // before the ready line: a script may signal right after it
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  auto listener = corio::tcp_listener::bind({corio::net::ip_address::loopback_v4(), config.port});
  auto bound = listener ? listener->local_address()
                        : corio::result<corio::net::socket_address>(listener.error());
  if (!bound) {
    fmt::print(stderr, "listen: {}\n", bound.error().message());
    co_return 1;
  }
  examples::announce(*bound);
  std::vector<corio::join_handle<>> clients;
  auto start = [&config](corio::tcp_stream s) { return relay(std::move(s), config); };
  auto acceptor = corio::spawn(examples::accept_clients(*listener, clients, start));
  const auto received = co_await signals.wait();
  acceptor.request_stop();  // first, so that the list of clients is final
  co_await acceptor;
  examples::close_backlog(*listener);
  listener->close();
  for (auto& c : clients) c.request_stop();
  for (auto& c : clients) co_await c;
  co_return received ? 0 : 1;
}

// --threads N > 1: corio::tcp_server spreads the connections over the runtime's workers.
corio::task<int> serve(const proxy_config& config, corio::runtime& rt) {
  corio::serve_options options;
  options.on_accept_error = [](std::error_code ec, bool first) {
    if (first) fmt::print(stderr, "warning: accept: {}; retrying\n", ec.message());
  };
  auto handler = [&config](corio::tcp_stream client) { return relay(std::move(client), config); };
  co_return co_await examples::serve_until_signal(
      corio::tcp_server::bind(rt, {corio::net::ip_address::loopback_v4(), config.port},
                              std::move(options)),
      handler);
}

int usage_error() {
  fmt::print(stderr, "usage: proxy --upstream HOST:PORT [--port P] [--backend NAME] [--threads N] "
                     "[--idle-timeout-ms N] [--connect-timeout-ms N] [--dns-server HOST:PORT]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  proxy_config config;
  std::string upstream;
  std::string backend = "auto";
  unsigned idle_ms = 0;
  unsigned connect_ms = 5000;
  CLI::App app("TCP proxy: relays each client connection to an upstream, both ways.", "proxy");
  app.add_option("--port", config.port, "port on 127.0.0.1 (0 = ephemeral)");
  app.add_option("--upstream", upstream, "HOST:PORT to relay to (required); HOST may be a name");
  app.add_option("--backend", backend, "reactor backend (default: $CORIO_BACKEND, else auto)")
      ->check(CLI::IsMember({"epoll", "io_uring", "kqueue", "auto"}))
      ->envname("CORIO_BACKEND");
  app.add_option("--threads", config.threads, "worker threads")->check(CLI::Range(1u, 1024u));
  app.add_option("--idle-timeout-ms", idle_ms,
                 "close a connection after this long without traffic either way (0 = never)");
  app.add_option("--connect-timeout-ms", connect_ms, "give up on the upstream after this long")
      ->check(CLI::Range(1u, 3600000u));
  app.add_option("--dns-server", config.dns_servers,
                 "name servers to ask, e.g. 127.0.0.1:5353 (default: the system's)");
  // The services' contract: a usage error exits 2 with a usage line on stderr. --upstream is
  // checked after parsing, so that an unknown option is reported as such first.
  try {
    app.parse(argc, argv);
    if (upstream.empty()) throw CLI::RequiredError("--upstream");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "proxy: {}\n", e.what());
    return usage_error();
  }

  auto split = corio::split_host_port(upstream);
  if (!split) {
    fmt::print(stderr, "proxy: --upstream {}: {}\n", upstream, split.error().message());
    return usage_error();
  }
  config.upstream_host = std::string(split->first);
  config.upstream_port = split->second;
  auto kind = corio::parse_backend_kind(backend);
  if (!kind) {
    fmt::print(stderr, "proxy: --backend {}: {}\n", backend, kind.error().message());
    return usage_error();
  }
  config.backend = *kind;
  config.idle_timeout = std::chrono::milliseconds(idle_ms);
  config.connect_timeout = std::chrono::milliseconds(connect_ms);

  try {
    if (config.threads == 1) {
      return corio::block_on(serve_here(config), corio::runtime_options{config.backend});
    }
    corio::runtime_options o{config.backend};
    o.threads = config.threads;
    corio::runtime rt(o);
    return rt.run(serve(config, rt));
  } catch (const std::exception& e) {
    fmt::print(stderr, "proxy: {}\n", e.what());
    return 1;
  }
}
