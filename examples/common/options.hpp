// The examples' shared command line, parsed with CLI11. Its flags are a public contract that
// scripts depend on:
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
// A program with flags of its own (proxy, raft_node...) builds its CLI::App itself and calls
// add_common_options(app, opts, which) for the shared ones, then parse_command_line().
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <corio/detail/loop_core.hpp>
#include <corio/reactor.hpp>
#include <corio/serve.hpp>
#include <fmt/core.h>

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

inline std::string_view program_name(int argc, char** argv) {
  const std::string_view path = argc > 0 ? argv[0] : "example";
  return path.substr(path.find_last_of('/') + 1);
}

[[noreturn]] inline void usage_error(std::string_view program, std::string_view what) {
  fmt::print(stderr, "{}: {}\nusage: {} [OPTIONS]; {} --help lists them\n", program, what,
             program, program);
  std::exit(2);
}

// The flags `which` names, writing into `o`. Their defaults are what `o` holds now (so set
// o.backend from $CORIO_BACKEND first: default_backend_from_env does).
inline void add_common_options(CLI::App& app, options& o, const which_flags& which) {
  if (which.port) {
    app.add_option("--port", o.port, "TCP/UDP port on 127.0.0.1 (0: any free port)")
        ->capture_default_str();
  }
  if (which.backend) {
    app.add_option_function<std::string>(
           "--backend",
           [&o](const std::string& name) {
             // The check below has already refused anything parse_backend_kind does not take.
             o.backend = corio::parse_backend_kind(name).value_or(o.backend);
           },
           "I/O backend: epoll, io_uring, kqueue or auto (default: $CORIO_BACKEND, else auto)")
        ->check([](const std::string& name) -> std::string {
          if (!corio::parse_backend_kind(name)) return "unknown backend " + name;
          return {};
        });
  }
  if (which.threads) {
    app.add_option("--threads", o.threads,
                   which.max_threads > 1 ? "worker threads" : "worker threads (only 1 here)")
        ->check(CLI::Range(1u, which.max_threads))
        ->capture_default_str();
  }
  if (which.accept) {
    app.add_option_function<std::string>(
           "--accept",
           [&o](const std::string& mode) {
             o.accept = mode == "round-robin" ? corio::accept_distribution::round_robin
                                              : corio::accept_distribution::reuse_port;
           },
           "how --threads N > 1 spreads TCP connections: reuse-port (a listener per worker, "
           "the default) or round-robin (one acceptor hands them out in turn)")
        ->check(CLI::IsMember({"reuse-port", "round-robin"}));
  }
  if (which.interval) {
    app.add_option("--interval-ms", o.interval_ms, "timer period in milliseconds")
        ->check(CLI::Range(1u, 3'600'000u))
        ->capture_default_str();
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

// Parses, or exits: 0 after printing --help on stdout, 2 after an error and a usage line.
inline void parse_command_line(CLI::App& app, int argc, char** argv) {
  const std::string_view program = program_name(argc, argv);
  app.allow_extras();  // reported below, in the contract's words
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", app.help());
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    usage_error(program, e.what());
  }
  const auto extra = app.remaining();
  if (!extra.empty()) {
    const auto unknown = std::find_if(extra.begin(), extra.end(),
                                      [](const std::string& a) { return a.starts_with('-'); });
    usage_error(program, unknown != extra.end() ? "unknown option " + *unknown
                                                : "unexpected argument " + extra.front());
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
  CLI::App app(std::move(description), std::string(o.program));
  add_common_options(app, o, which);
  parse_command_line(app, argc, argv);
  require_built_backend(o);
  return o;
}

inline corio::loop_options loop_options(const options& o) {
  corio::loop_options lo;
  lo.backend = o.backend;
  return lo;
}

}  // namespace examples
