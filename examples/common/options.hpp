// The examples' shared command line. Its flags are a public contract that scripts depend on:
//   --port P        TCP/UDP port on 127.0.0.1 (0 = ephemeral)
//   --backend NAME  epoll | io_uring | kqueue | auto (default: $CORIO_BACKEND, else auto)
//   --threads N     worker threads
//   --interval-ms N timer period of the timer examples
//   --accept MODE   reuse-port | round-robin: how --threads N > 1 spreads TCP connections
//                   (corio/serve.hpp; default reuse-port; ignored with one thread)
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string_view>

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

template <class Int>
bool parse_number(std::string_view text, Int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

[[noreturn]] inline void usage_error(std::string_view program, std::string_view what) {
  fmt::print(stderr, "{}: {}\nusage: {} [--port P] [--backend epoll|io_uring|auto] [--threads N] "
                     "[--interval-ms N] [--accept reuse-port|round-robin]\n", program, what, program);
  std::exit(2);
}

// Exits with status 2 and a usage line on anything it does not understand.
inline options parse_options(int argc, char** argv) {
  options o;
  const std::string_view program = argc > 0 ? argv[0] : "example";
  o.program = program.substr(program.find_last_of('/') + 1);
  if (auto env = corio::backend_kind_from_env()) {
    o.backend = *env;
  } else {
    usage_error(program, "CORIO_BACKEND: " + env.error().message());
  }
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) usage_error(program, fmt::format("{} needs a value", flag));
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--port") {
      ok = parse_number(value, o.port);
    } else if (flag == "--threads") {
      ok = parse_number(value, o.threads) && o.threads > 0;
    } else if (flag == "--interval-ms") {
      ok = parse_number(value, o.interval_ms) && o.interval_ms > 0;
    } else if (flag == "--accept") {
      ok = value == "reuse-port" || value == "round-robin";
      o.accept = value == "round-robin" ? corio::accept_distribution::round_robin
                                        : corio::accept_distribution::reuse_port;
    } else if (flag == "--backend") {
      auto kind = corio::parse_backend_kind(value);
      ok = kind.has_value();
      if (ok) o.backend = *kind;
    } else {
      usage_error(program, fmt::format("unknown option {}", flag));
    }
    if (!ok) usage_error(program, fmt::format("bad value for {}: {}", flag, value));
  }
  return o;
}

inline corio::loop_options loop_options(const options& o) {
  corio::loop_options lo;
  lo.backend = o.backend;
  return lo;
}

}  // namespace examples
