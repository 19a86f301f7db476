// raft_node: one member of a Raft cluster on 127.0.0.1 (examples/raft/node.hpp, the same code
// raft_sim checks), with a RESP client port (examples/raft/client_port.hpp).
//
//   raft_node --id 0 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --port 0
//             [--data-dir DIR] [--backend epoll|io_uring|auto]
#include <csignal>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <corio/corio.hpp>
#include <corio/signal_set.hpp>
#include <corio/sim.hpp>
#include <fmt/core.h>

#include "common/accept_loop.hpp"
#include "client_port.hpp"
#include "node.hpp"
#include "storage.hpp"

namespace {

using raft_node_t = raft::node<corio::real_network>;

corio::task<int> serve(raft::config cfg, std::uint16_t port, raft::storage& store) {
  corio::signal_set signals;
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  auto listener = corio::tcp_listener::bind({corio::net::ip_address::loopback_v4(), port});
  auto bound = listener ? listener->local_address()
                        : corio::result<corio::net::socket_address>(listener.error());
  if (!bound) {
    fmt::print(stderr, "listen: {}\n", bound.error().message());
    co_return 1;
  }
  cfg.client_address = bound->to_string();
  raft_node_t node(cfg, store);
  auto running = corio::spawn([](raft_node_t& n) -> corio::task<int> {
    auto r = co_await n.run();
    if (!r && r.error() != std::errc::operation_canceled) {
      fmt::print(stderr, "raft: {}\n", r.error().message());
      co_return 1;
    }
    co_return 0;
  }(node));
  fmt::print("listening on {}\n", bound->to_string());
  std::fflush(stdout);

  std::vector<corio::join_handle<>> clients;
  auto start = [&node](corio::tcp_stream s) { return raft::serve_client(std::move(s), node); };
  auto acceptor = corio::spawn(examples::accept_clients(*listener, clients, start));
  auto received = co_await signals.wait();
  acceptor.request_stop();
  co_await acceptor;
  examples::close_backlog(*listener);
  listener->close();
  for (auto& c : clients) c.request_stop();
  for (auto& c : clients) co_await c;
  running.request_stop();
  const int status = co_await running;
  co_return received ? status : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raft_node: one member of a Raft cluster with a RESP client port"};
  std::uint32_t id = 0;
  std::vector<std::string> peer_names;
  std::uint16_t port = 0;
  std::string backend = "auto";
  std::string data_dir;
  app.add_option("--id", id, "this node's index in --peers (0-based)")->required();
  app.add_option("--peers", peer_names, "every member's Raft address (UDP), in id order")
      ->required()
      ->delimiter(',');
  app.add_option("--port", port, "the client port on 127.0.0.1 (0: ephemeral)");
  app.add_option("--backend", backend, "epoll, io_uring or auto")
      ->check(CLI::IsMember({"epoll", "io_uring", "auto", "automatic"}));
  app.add_option("--data-dir", data_dir, "where term, vote and log are kept (fsync'd)");
  CLI11_PARSE(app, argc, argv);

  raft::config cfg;
  cfg.id = id;
  for (const auto& p : peer_names) {
    auto a = corio::net::socket_address::parse(p);
    if (!a) {
      fmt::print(stderr, "raft_node: --peers: {}: {}\n", p, a.error().message());
      return 2;
    }
    cfg.peers.push_back(*a);
  }
  if (id >= cfg.peers.size()) {
    fmt::print(stderr, "raft_node: --id {} is not an index into --peers ({} members)\n", id,
               cfg.peers.size());
    return 2;
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

  corio::runtime_options options;
  options.backend = corio::parse_backend_kind(backend).value();
  try {
    return corio::block_on(serve(cfg, port, *store), options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "raft_node: {}\n", e.what());
    return 1;
  }
}
