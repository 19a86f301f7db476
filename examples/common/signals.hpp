// What every service does with signals (the contract is listed in service.hpp). The
// co_await services watch them with a corio::signal_set (the callback echo server with its
// event loop's watch_signal), so none of them dies of a default action:
//   SIGINT, SIGTERM  stop in order and exit 0 (within 2 s)
//   SIGHUP           ignored: the service outlives the terminal that started it, and it has no
//                    configuration file to reload (redis ignores it too)
//   SIGUSR1          report_status(): one line on stderr, and the service goes on
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string_view>
#include <unistd.h>

#include <corio/diagnostics.hpp>
#include <corio/reactor.hpp>
#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <corio/task.hpp>
#include <fmt/core.h>

#include "options.hpp"

namespace examples {

// When the process started, for the status line (dynamic initialisation, before main).
inline const std::chrono::steady_clock::time_point process_start = std::chrono::steady_clock::now();

// The SIGUSR1 hook: a status line, then the live task dump (corio/diagnostics.hpp: every
// worker's metrics and every live task, where it was spawned, what it waits on and since when).
// It runs on the thread that waits for signals, a corio thread; the dump is safe from there.
inline void report_status(const options& o) {
  const std::chrono::duration<double> up = std::chrono::steady_clock::now() - process_start;
  fmt::print(stderr, "{}: status: pid {}, up {:.1f} s, backend {}, {} thread{}\n", o.program,
             ::getpid(), up.count(), corio::to_string(o.backend), o.threads,
             o.threads == 1 ? "" : "s");
  std::fputs(corio::dump().c_str(), stderr);
  std::fflush(stderr);
}

inline constexpr int service_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};

// Watches the signals above. Call it before announcing the address: a script may signal as
// soon as it reads that line.
inline corio::result<void> watch_service_signals(corio::signal_set& signals) {
  for (int signo : service_signals) {
    if (auto added = signals.add(signo); !added) return added.error();
  }
  return {};
}

// Until SIGINT or SIGTERM (the record), handling SIGHUP and SIGUSR1 on the way; an error if the
// wait failed (operation_canceled when this task was stopped).
inline corio::task<corio::result<corio::signal_info>> until_stop_signal(corio::signal_set& signals,
                                                                        const options& o) {
  while (true) {
    auto got = co_await signals.wait();
    if (!got) co_return got.error();
    if (got->signo == SIGUSR1) {
      report_status(o);
    } else if (got->signo != SIGHUP) {
      co_return *got;
    }
  }
}

}  // namespace examples
