// The examples' shared command line (parsed by common/command_line.hpp). Its flags are a
// public contract that scripts depend on:
//   --port P        TCP/UDP port on 127.0.0.1 (0 = ephemeral)
//   --backend NAME  epoll | io_uring | kqueue | auto (default: $CORIO_BACKEND, else auto)
//   --threads N     worker threads
//   --accept MODE   reuse-port | round-robin: how --threads N > 1 spreads TCP connections
//                   (corio/serve.hpp; default reuse-port)
//   --interval-ms N timer period (the timer examples only)
// Each program offers only the flags it uses (which_flags), so `--help` lists its own options
// and exits 0; anything it does not understand ("unknown option --bogus", a bad value, a
// missing value) prints the reason and a usage line on stderr and exits 2.
//
// A program with flags of its own (proxy, raft_node...) builds its command_line itself, calls
// add_common_options(cl, opts, which) for the shared ones, then cl.parse().
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <corio/detail/loop_core.hpp>
#include <corio/reactor.hpp>
#include <corio/serve.hpp>
#include <fmt/core.h>

#include "command_line.hpp"

namespace examples {

struct options {
  std::string_view program = "example";  // argv[0]'s last component, for messages
  std::uint16_t port = 0;
  corio::backend_kind backend = corio::backend_kind::automatic;
  unsigned threads = 1;
  unsigned interval_ms = 250;
  corio::accept_distribution accept = corio::accept_distribution::reuse_port;
};

// Which shared flags a program offers. --threads accepts 1..max_threads.
struct which_flags {
  bool port = false;
  bool backend = true;
  bool threads = false;
  bool accept = false;
  bool interval = false;
  unsigned max_threads = 1;
};

// The network services': all of the contract but --interval-ms.
inline which_flags service_flags(unsigned max_threads) {
  return {.port = true, .threads = true, .accept = max_threads > 1, .max_threads = max_threads};
}

// The flags `which` names, writing into `o`. Their defaults are what `o` holds now (so set
// o.backend from $CORIO_BACKEND first: default_backend_from_env does).
inline void add_common_options(command_line& cl, options& o, const which_flags& which) {
  if (which.port) {
    cl.option("--port", o.port, "TCP/UDP port on 127.0.0.1 (0: any free port)").show_default();
  }
  if (which.backend) {
    cl.option(
          "--backend",
          [&o](const std::string& name) {
            // The check below has already refused anything parse_backend_kind does not take.
            o.backend = corio::parse_backend_kind(name).value_or(o.backend);
          },
          "I/O backend: epoll, io_uring, kqueue or auto (default: $CORIO_BACKEND, else auto)")
        .check([](const std::string& name) -> std::string {
          if (!corio::parse_backend_kind(name)) return "unknown backend " + name;
          return {};
        });
  }
  if (which.threads) {
    cl.option("--threads", o.threads,
              which.max_threads > 1 ? "worker threads" : "worker threads (only 1 here)")
        .range(1, which.max_threads)
        .show_default();
  }
  if (which.accept) {
    cl.option(
          "--accept",
          [&o](const std::string& mode) {
            o.accept = mode == "round-robin" ? corio::accept_distribution::round_robin
                                             : corio::accept_distribution::reuse_port;
          },
          "how --threads N > 1 spreads TCP connections: reuse-port (a listener per worker, "
          "the default) or round-robin (one acceptor hands them out in turn)")
        .one_of({"reuse-port", "round-robin"});
  }
  if (which.interval) {
    cl.option("--interval-ms", o.interval_ms, "timer period in milliseconds")
        .range(1, 3'600'000)
        .show_default();
  }
}

// o.backend from $CORIO_BACKEND (exit 2 if it names no backend), before the flags override it.
inline void default_backend_from_env(options& o) {
  if (auto env = corio::backend_kind_from_env()) {
    o.backend = *env;
  } else {
    usage_error(o.program, "CORIO_BACKEND: " + env.error().message());
  }
}

// A backend this build lacks is refused up front (exit 2), not with a failure later in the run.
inline void require_built_backend(const options& o) {
  const auto built = corio::built_backends();
  if (o.backend != corio::backend_kind::automatic &&
      std::find(built.begin(), built.end(), o.backend) == built.end()) {
    usage_error(o.program, fmt::format("backend {} is not built into this corio",
                                       corio::to_string(o.backend)));
  }
}

// A program with only shared flags: the whole command line in one call.
inline options parse_options(int argc, char** argv, const which_flags& which,
                             std::string description) {
  options o;
  o.program = program_name(argc, argv);
  default_backend_from_env(o);
  command_line cl(std::move(description), argc, argv);
  add_common_options(cl, o, which);
  cl.parse();
  require_built_backend(o);
  return o;
}

inline corio::loop_options loop_options(const options& o) {
  corio::loop_options lo;
  lo.backend = o.backend;
  return lo;
}

}  // namespace examples
