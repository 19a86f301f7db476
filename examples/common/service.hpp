// What the network services share beyond the command line (options.hpp), in one place so every
// program keeps the same contract:
//   - --threads N above what the program runs on (1 for echo_server_callbacks) and a backend
//     this build lacks are refused up front: exit 2 and a usage line, like any other bad flag,
//     instead of a failure later in the run. `--help` lists the program's own flags, exit 0.
//   - They bind 127.0.0.1 only, and print `listening on 127.0.0.1:PORT` (the real port, also
//     for --port 0) once ready, flushed, because scripts wait for exactly that line.
//   - Signals (signals.hpp; every service, co_await and callback style alike):
//       SIGINT, SIGTERM  stop accepting, close every connection in order (FIN), exit 0 within
//                        2 s
//       SIGHUP           ignored (the service outlives its terminal; there is nothing to
//                        reload), instead of the default action that killed it
//       SIGUSR1          one status line on stderr ("PROG: status: pid N, up S s, backend B,
//                        T threads"), through examples::report_status(), the single hook for
//                        anything more (e.g. a dump of the runtime's tasks); the service goes on
//   - TCP services run on a corio::runtime with --threads workers through corio::tcp_server
//     (run_service.hpp); with one worker there is one listener, without SO_REUSEPORT.
#pragma once

#include <cstdio>
#include <string>
#include <system_error>
#include <utility>

#include <corio/net/address.hpp>
#include <corio/reactor.hpp>
#include <fmt/core.h>

#include "options.hpp"

namespace examples {

// The services' command line (options.hpp): --port, --backend, --threads (1..max_threads) and,
// when they can use more than one thread, --accept. Exits 0 after --help, 2 on anything else
// it cannot serve.
inline options parse_service_options(int argc, char** argv, std::string description,
                                     unsigned max_threads = 1) {
  return parse_options(argc, argv, service_flags(max_threads), std::move(description));
}

// Where the services listen: loopback only, so an example never opens a port to the network.
inline corio::net::socket_address loopback(const options& o) {
  return {corio::net::ip_address::loopback_v4(), o.port};
}

inline void announce(const corio::net::socket_address& bound) {
  fmt::print("listening on {}\n", bound.to_string());
  std::fflush(stdout);  // stdout is a pipe under a script: without this the line sits buffered
}

// Accept failures that mean "no fd or memory for one more connection right now": the
// connection stays queued, so wait for something to close and retry; never spin on it.
inline bool out_of_descriptors(std::error_code ec) {
  return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
         ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory;
}


}  // namespace examples
