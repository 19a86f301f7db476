// A Redis-protocol (RESP2) key-value server: unmodified redis-cli and redis-benchmark talk to
// it. The protocol, the command table and the store are in kv/, one job per file; this file is
// the service around them, shaped like echo_server: an accept loop that spawns one task per
// connection (kv/session.hpp), EMFILE back-off, and a graceful stop on SIGINT/SIGTERM.
//
// Expiry: lazy on every access (kv/store.hpp), plus an interval task that removes expired keys
// a bounded number per tick, so keys nobody reads again do not stay in memory.
//
// With --threads N > 1 each worker runs a shard (examples/common/sharded.hpp): its own
// SO_REUSEPORT listener, its connections and its expiry task, all on one store shared under
// striped locks (see kv/store.hpp for why stripes rather than an owner thread per key).
#include <chrono>
#include <csignal>
#include <cstddef>
#include <system_error>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <fmt/core.h>

#include "common/accept_loop.hpp"
#include "common/service.hpp"
#include "common/sharded.hpp"
#include "kv/session.hpp"
#include "kv/store.hpp"

namespace {

using namespace std::chrono_literals;

// Per tick and worker. A tick that used the whole budget goes on after a yield, a bounded
// number of times, so a mass expiry is caught up on soon without stalling the connections.
constexpr std::size_t expiry_budget = 2000;
constexpr int expiry_rounds_per_tick = 8;

corio::task<> expire_keys(kv::store& db) {
  corio::interval every(100ms);
  while (co_await every.tick()) {
    for (int round = 0; round < expiry_rounds_per_tick; ++round) {
      if (db.remove_expired(kv::now_ms(), expiry_budget) < expiry_budget) break;
      co_await corio::yield();
    }
  }
}

// Stops accepting first, so that the list of clients is final, then cancels them all and
// waits until each has closed its socket.
corio::task<> stop_all(corio::join_handle<>& acceptor, corio::join_handle<>& expiry,
                       corio::tcp_listener& listener, std::vector<corio::join_handle<>>& clients) {
  acceptor.request_stop();
  co_await acceptor;
  expiry.request_stop();
  co_await expiry;
  examples::close_backlog(listener);
  listener.close();
  for (auto& c : clients) c.request_stop();
  for (auto& c : clients) co_await c;
}

corio::task<int> serve(examples::options opts, kv::store& db) {
  // Watched before the line is printed: a script may signal as soon as it reads it.
  corio::signal_set signals;
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  auto listener = corio::tcp_listener::bind(examples::loopback(opts));
  auto bound = listener ? listener->local_address()
                        : corio::result<corio::net::socket_address>(listener.error());
  if (!bound) {
    fmt::print(stderr, "listen: {}\n", bound.error().message());
    co_return 1;
  }
  examples::announce(*bound);

  std::vector<corio::join_handle<>> clients;
  auto start = [&db](corio::tcp_stream s) { return kv::serve_client(std::move(s), db); };
  auto acceptor = corio::spawn(examples::accept_clients(*listener, clients, start));
  auto expiry = corio::spawn(expire_keys(db));
  auto received = co_await signals.wait();
  co_await stop_all(acceptor, expiry, *listener, clients);
  co_return received ? 0 : 1;
}

// One worker's share: its listener, its connections and its expiry task, cancelled together.
corio::task<> shard(corio::tcp_listener listener, kv::store& db) {
  std::vector<corio::join_handle<>> clients;
  auto expiry = corio::spawn(expire_keys(db));
  auto start = [&db](corio::tcp_stream s) { return kv::serve_client(std::move(s), db); };
  co_await examples::accept_clients(listener, clients, start);  // until the shard is cancelled
  // The shard's own stop request reached accept_clients; the spawned tasks need their own.
  expiry.request_stop();
  co_await expiry;
  examples::close_backlog(listener);
  listener.close();
  for (auto& c : clients) c.request_stop();
  for (auto& c : clients) co_await c;
}

// Runs on the worker that is to own the listener (a socket belongs to its thread).
corio::task<corio::result<examples::started_shard>> start_shard(corio::net::socket_address at,
                                                                kv::store& db) {
  corio::net::bind_options options;
  options.reuse_port = true;
  auto listener = corio::tcp_listener::bind(at, options);
  if (!listener) co_return listener.error();
  auto bound = listener->local_address();
  if (!bound) co_return bound.error();
  co_return examples::started_shard{*bound, corio::spawn(shard(std::move(*listener), db))};
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(argc, argv, 256);
  kv::store db;  // outlives the runtime that run_service makes and joins
  return examples::run_service(
      "kv_server", opts, [&db](examples::options o) { return serve(o, db); },
      [&db](corio::net::socket_address at) { return start_shard(at, db); });
}
