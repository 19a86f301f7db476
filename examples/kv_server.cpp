// A Redis-protocol (RESP2) key-value server: unmodified redis-cli and redis-benchmark talk to
// it. The protocol, the command table and the store are in kv/, one job per file; this file is
// the service around them, shaped like echo_server: a corio::tcp_server that runs one task per
// connection (kv/session.hpp) on every worker, EMFILE back-off, and a graceful stop on
// SIGINT/SIGTERM.
//
// Expiry: lazy on every access (kv/store.hpp), plus an interval task that removes expired keys
// a bounded number per tick, so keys nobody reads again do not stay in memory.
//
// With --threads N > 1 each worker serves its connections (--accept decides how they are
// spread) and runs an expiry task, all on one store shared under striped locks (see
// kv/store.hpp for why stripes rather than an owner thread per key).
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>

#include "common/run_service.hpp"
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

corio::task<int> serve(const examples::options& opts, corio::runtime& rt, kv::store& db) {
  // One expiry task per worker, each with its own budget, as the connections are spread.
  std::vector<corio::join_handle<>> expiry;
  for (std::size_t w = 0; w < rt.size(); ++w) expiry.push_back(rt.spawn_on(w, expire_keys(db)));
  auto client = [&db](corio::tcp_stream s) { return kv::serve_client(std::move(s), db); };
  const int status =
      co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), client);
  for (auto& e : expiry) e.request_stop();
  for (auto& e : expiry) co_await e;
  co_return status;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(
      argc, argv, "Redis-protocol (RESP2) key-value server (redis-cli, redis-benchmark)", 256);
  kv::store db;  // outlives the runtime that run_service makes and joins
  return examples::run_service(opts,
                               [&](corio::runtime& rt) { return serve(opts, rt, db); });
}
