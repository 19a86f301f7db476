// How the network services run: on a corio::runtime with --threads workers (one included),
// serving through corio::tcp_server / corio::udp_server (corio/serve.hpp), which bind, spread
// the connections (--accept), close the backlog with a FIN (draining what it sent first),
// cancel every connection and wait for it. Signals as in signals.hpp.
#pragma once

#include <cstdio>
#include <exception>
#include <system_error>
#include <utility>

#include <corio/runtime.hpp>
#include <corio/serve.hpp>
#include <corio/signal_set.hpp>
#include <fmt/core.h>

#include "service.hpp"
#include "signals.hpp"

namespace examples {

// Runs `main_task(rt)`, a corio::task<int>, on a runtime with opts.threads workers and returns
// its status (1 if it threw). The runtime has stopped and joined its workers when this returns.
template <class Main>
int run_service(const options& opts, Main main_task) {
  try {
    corio::runtime_options ro{opts.backend};
    ro.threads = opts.threads;
    corio::runtime rt(ro);
    return rt.run(main_task(rt));
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", opts.program, e.what());
    return 1;
  }
}

// --accept, and the contract's EMFILE rule: warn once per episode, retry after a pause. With
// one worker, one listener without SO_REUSEPORT (round_robin to its only worker): a second
// server started on the same port fails with EADDRINUSE instead of sharing it.
inline corio::serve_options tcp_serve_options(const options& opts) {
  corio::serve_options o;
  o.distribution = opts.threads == 1 ? corio::accept_distribution::round_robin : opts.accept;
  o.on_accept_error = [](std::error_code ec, bool first) {
    if (first) fmt::print(stderr, "warning: accept: {}; retrying\n", ec.message());
  };
  return o;
}

inline corio::result<corio::tcp_server> bind_tcp(corio::runtime& rt, const options& opts) {
  return corio::tcp_server::bind(rt, loopback(opts), tcp_serve_options(opts));
}

struct nothing_to_do {
  void operator()() const noexcept {}
};

// Announces a bound tcp_server / udp_server, serves with `handler` until SIGINT or SIGTERM,
// calls `before_stop()` (e.g. "no more departure notices"), stops the server (in order: see
// corio/serve.hpp) and returns the exit status.
template <class Server, class Handler, class BeforeStop = nothing_to_do>
corio::task<int> serve_until_signal(const options& opts, corio::result<Server> server,
                                    Handler handler, BeforeStop before_stop = {}) {
  corio::signal_set signals;  // before the line is printed: a script may signal right after it
  if (auto watched = watch_service_signals(signals); !watched) {
    fmt::print(stderr, "signals: {}\n", watched.error().message());
    co_return 1;
  }
  if (!server) {
    fmt::print(stderr, "bind: {}\n", server.error().message());
    co_return 1;
  }
  announce(server->local_address());
  auto serving = corio::spawn(std::move(*server).serve(std::move(handler)));
  const auto received = co_await until_stop_signal(signals, opts);
  before_stop();
  serving.request_stop();
  const auto served = co_await serving;
  if (!served) {
    fmt::print(stderr, "serve: {}\n", served.error().message());
    co_return 1;
  }
  co_return received ? 0 : 1;
}

}  // namespace examples
