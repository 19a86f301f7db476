// raft_node: one member of a Raft cluster on 127.0.0.1 (examples/raft/node.hpp, the same code
// raft_sim checks), with a RESP client port (examples/raft/client_port.hpp).
//
//   raft_node --id 0 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --port 0
//             [--data-dir DIR] [--backend epoll|io_uring|auto]
//
// The client port is served through corio::tcp_server on a one-worker corio::runtime
// (examples/common/run_service.hpp), with the services' signals (common/signals.hpp): SIGINT/
// SIGTERM end the client sessions, then the node, and exit 0; SIGHUP is ignored, SIGUSR1
// prints a status line.
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <corio/corio.hpp>
#include <corio/sim.hpp>
#include <fmt/core.h>

#include "common/options.hpp"
#include "common/run_service.hpp"
#include "common/service.hpp"
#include "client_port.hpp"
#include "node.hpp"
#include "storage.hpp"

namespace {

using raft_node_t = raft::node<corio::real_network>;

// The node (its Raft UDP socket and timers) and every client session run on the runtime's one
// worker: the node is not shared across threads, so --threads is not offered.
corio::task<int> serve(const examples::options& opts, raft::config cfg, raft::storage& store,
                       corio::runtime& rt) {
  auto server = examples::bind_tcp(rt, opts);
  if (!server) {
    fmt::print(stderr, "bind: {}\n", server.error().message());
    co_return 1;
  }
  cfg.client_address = server->local_address().to_string();
  raft_node_t node(cfg, store);
  auto running = corio::spawn([](raft_node_t& n) -> corio::task<int> {
    auto r = co_await n.run();
    if (!r && r.error() != std::errc::operation_canceled) {
      fmt::print(stderr, "raft: {}\n", r.error().message());
      co_return 1;
    }
    co_return 0;
  }(node));
  // Announces the client port, serves it until SIGINT/SIGTERM and ends its sessions (the node
  // still runs meanwhile: a session may wait for a commit); then the node stops.
  auto handler = [&node](corio::tcp_stream s) { return raft::serve_client(std::move(s), node); };
  const int served = co_await examples::serve_until_signal(opts, std::move(server), handler);
  running.request_stop();
  const int status = co_await running;
  co_return served != 0 ? served : status;
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opts;
  opts.program = examples::program_name(argc, argv);
  examples::default_backend_from_env(opts);
  examples::command_line cl("raft_node: one member of a Raft cluster with a RESP client port",
                            argc, argv);
  std::uint32_t id = 0;
  std::vector<std::string> peer_names;
  std::string data_dir;
  cl.option("--id", id, "this node's index in --peers (0-based)").required();
  cl.option("--peers", peer_names, "every member's Raft address (UDP), in id order")
      .required()
      .delimiter(',');
  // --port is the client port; one worker (see serve).
  examples::add_common_options(cl, opts, {.port = true, .backend = true});
  cl.option("--data-dir", data_dir, "where term, vote and log are kept (fsync'd)");
  cl.parse();
  examples::require_built_backend(opts);

  raft::config cfg;
  cfg.id = id;
  for (const auto& p : peer_names) {
    auto a = corio::net::socket_address::parse(p);
    if (!a) {
      examples::usage_error(opts.program,
                            fmt::format("--peers: {}: {}", p, a.error().message()));
    }
    cfg.peers.push_back(*a);
  }
  if (id >= cfg.peers.size()) {
    examples::usage_error(opts.program, fmt::format("--id {} is not an index into --peers ({} "
                                                    "members)", id, cfg.peers.size()));
  }
  cfg.seed = std::random_device{}();

  std::unique_ptr<raft::storage> store;
  if (data_dir.empty()) {
    fmt::print(stderr, "raft_node: no --data-dir: term, vote and log are kept in memory only; "
                       "a restarted node forgets its promises (unsafe for Raft)\n");
    store = std::make_unique<raft::memory_storage>();
  } else {
    auto opened = raft::open_file_storage(data_dir);
    if (!opened) {
      fmt::print(stderr, "raft_node: --data-dir {}: {}\n", data_dir, opened.error().message());
      return 1;
    }
    store = std::move(*opened);
  }

  return examples::run_service(
      opts, [&opts, &cfg, &store](corio::runtime& rt) { return serve(opts, cfg, *store, rt); });
}
