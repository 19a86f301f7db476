// The multi-threaded shape the services share. Two ways:
// - run_service + serve_sharded: one shard per worker, each with its own SO_REUSEPORT socket
//   bound on that worker (a socket belongs to its thread), all on one port.
// - run_service_on_runtime + serve_until_signal: a corio::tcp_server or corio::udp_server
//   (corio/serve.hpp) does the sharding, with --accept reuse-port or round-robin for TCP.
#pragma once

#include <csignal>
#include <cstddef>
#include <exception>
#include <system_error>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/serve.hpp>
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

// --threads 1 runs `serve(opts)` on this thread; more runs `on_runtime(opts, rt)` once, on a
// worker of a corio::runtime with that many workers, and stops the runtime when it returns.
template <class Serve, class OnRuntime>
int run_service_on_runtime(const char* name, const options& opts, Serve serve,
                           OnRuntime on_runtime) {
  try {
    if (opts.threads > 1) {
      corio::runtime_options o{opts.backend};
      o.threads = opts.threads;
      corio::runtime rt(o);
      return rt.run(on_runtime(opts, rt));
    }
    return corio::block_on(serve(opts), corio::runtime_options{opts.backend});
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", name, e.what());
    return 1;
  }
}

// Announces a bound corio::tcp_server / udp_server, serves with `handler` until SIGINT or
// SIGTERM, then stops it (in order: see corio/serve.hpp) and returns the exit status.
template <class Server, class Handler>
corio::task<int> serve_until_signal(corio::result<Server> server, Handler handler) {
  corio::signal_set signals;  // before the line is printed: a script may signal right after it
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  if (!server) {
    fmt::print(stderr, "bind: {}\n", server.error().message());
    co_return 1;
  }
  announce(server->local_address());
  auto serving = corio::spawn(std::move(*server).serve(std::move(handler)));
  const auto received = co_await signals.wait();
  serving.request_stop();
  const auto served = co_await serving;
  if (!served) {
    fmt::print(stderr, "serve: {}\n", served.error().message());
    co_return 1;
  }
  co_return received ? 0 : 1;
}

}  // namespace examples
