// The multi-threaded shape both echo services share: one shard per worker, each with its own
// SO_REUSEPORT socket bound on that worker (a socket belongs to its thread), all on one port.
#pragma once

#include <csignal>
#include <cstddef>
#include <exception>
#include <system_error>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <fmt/core.h>

#include "common/service.hpp"

namespace examples {

struct started_shard {
  corio::net::socket_address bound;
  corio::join_handle<> shard;
};

// `start(at)` runs on a worker: it binds there and spawns the shard, returning where it bound.
template <class Start>
corio::task<int> serve_sharded(options opts, std::size_t workers, Start start) {
  corio::signal_set signals;
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  auto at = loopback(opts);
  std::vector<corio::join_handle<>> shards;
  std::error_code failed;
  for (std::size_t i = 0; i < workers && !failed; ++i) {
    auto s = co_await corio::spawn_on(i, start(at));
    if (!s) {
      failed = s.error();
      continue;
    }
    at = s->bound;  // with --port 0 the first shard picks the port, the others join it
    shards.push_back(std::move(s->shard));
  }
  int status = failed ? 1 : 0;
  if (failed) {
    fmt::print(stderr, "bind: {}\n", failed.message());
  } else {
    announce(at);
    if (!co_await signals.wait()) status = 1;
  }
  for (auto& s : shards) s.request_stop();
  for (auto& s : shards) co_await s;
  co_return status;
}

// --threads 1 runs `serve(opts)` on this thread; more runs a shard per worker.
template <class Serve, class Start>
int run_service(const char* name, const options& opts, Serve serve, Start start) {
  try {
    if (opts.threads > 1) {
      corio::runtime_options o{opts.backend};
      o.threads = opts.threads;
      corio::runtime rt(o);
      return rt.run(serve_sharded(opts, rt.size(), start));
    }
    return corio::block_on(serve(opts), corio::runtime_options{opts.backend});
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", name, e.what());
    return 1;
  }
}

}  // namespace examples
