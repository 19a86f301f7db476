// What a service needs to speak TLS, in one header so that any program of examples/ can add it
// in a few lines (tls_echo_server uses it; http_server and echo_server can):
//   - add_tls_flags: --tls-cert FILE --tls-key FILE (PEM; the chain file may hold the
//     intermediates after the leaf);
//   - tls_server_context: the corio::tls::context for them, or a printed reason;
//   - tls_accept: an accepted tcp_stream → a corio::tls::stream after a bounded handshake,
//     logging a failed one in one line (a plaintext client, a client that rejects the
//     certificate, silence);
//   - tls_close: close_notify's companion on the TCP side (FIN, drain, close);
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include <corio/tcp.hpp>
#include <corio/tls.hpp>
#include <fmt/core.h>

#include "common/options.hpp"
#include "common/run_service.hpp"

namespace examples {

struct tls_files {
  std::string cert;
  std::string key;
};

inline void add_tls_flags(command_line& cl, tls_files& files, bool required) {
  auto cert = cl.option("--tls-cert", files.cert,
                        "PEM certificate chain (leaf first) to serve TLS with")
                  .existing_file();
  auto key = cl.option("--tls-key", files.key, "PEM private key of --tls-cert").existing_file();
  if (required) {
    cert.required();
    key.required();
  } else {
    cert.needs(key);
    key.needs(cert);
  }
}

inline std::optional<corio::tls::context> tls_server_context(const tls_files& files) {
  auto ctx = corio::tls::context::server(files.cert, files.key);
  if (!ctx) {
    fmt::print(stderr, "tls: cannot use --tls-cert {} --tls-key {}: {}\n", files.cert, files.key,
               ctx.error().message());
    return std::nullopt;
  }
  return std::move(*ctx);
}

// The handshake of an accepted connection, bounded by `limit`; a failure is logged and the
// connection closed.
inline corio::task<corio::result<corio::tls::stream>> tls_accept(
    const corio::tls::context& ctx, corio::tcp_stream tcp, std::chrono::milliseconds limit) {
  const auto peer = tcp.peer_address();
  std::string why;
  auto s = co_await corio::tls::accept(ctx, std::move(tcp), limit, &why);
  if (!s && s.error() != std::errc::operation_canceled) {
    fmt::print(stderr, "tls: handshake with {} failed: {}: {}\n",
               peer ? peer->to_string() : std::string("?"), s.error().message(), why);
  }
  co_return s;
}

// After close_notify (or instead of it, when the peer broke the stream): FIN, then drop what
// already arrived so that close() does not turn into a reset, then close.
inline void tls_close(corio::tls::stream& s) {
  if (!s.is_open()) return;
  (void)s.tcp().shutdown_write();
  std::array<std::byte, 4096> sink;
  for (int k = 0; k < 16 && s.tcp().raw().read(sink).value_or(0) > 0; ++k) {
  }
  s.close();
}

// One accepted connection, plain when `ctx` is empty, else TLS after a bounded handshake:
// `serve` gets a corio::tcp_stream or a corio::tls::stream. Both have read, read_exact, write
// and write_all with the same result types, so one generic lambda (or template) serves both:
//   auto start = [ctx](corio::tcp_stream s) {
//     return examples::serve_plain_or_tls(ctx, std::move(s),
//                                         [](auto stream) { return my_session(std::move(stream)); });
//   };
template <class Serve>
corio::task<> serve_plain_or_tls(std::optional<corio::tls::context> ctx, corio::tcp_stream tcp,
                                 Serve serve,
                                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  if (!ctx) {
    co_await serve(std::move(tcp));
    co_return;
  }
  auto s = co_await tls_accept(*ctx, std::move(tcp), limit);
  if (s) co_await serve(std::move(*s));
}

// The orderly end of either kind of stream: close_notify first for TLS (unless the task was
// cancelled: then nothing more is awaited), then FIN, drain what already arrived, close.
inline corio::task<> end_stream(corio::tls::stream& s, bool send_close_notify) {
  if (send_close_notify) (void)co_await s.shutdown();
  tls_close(s);
}
inline corio::task<> end_stream(corio::tcp_stream& s, bool) {
  (void)s.shutdown_write();
  std::array<std::byte, 4096> sink;
  for (int k = 0; k < 16 && s.raw().read(sink).value_or(0) > 0; ++k) {
  }
  s.close();
  co_return;
}

// main() of a TCP service that speaks TLS when given --tls-cert/--tls-key: the shared flags
// and the two files, the context loaded once before serving (handlers point at it, so no worker
// copies it), then serve(opts, rt, ctx) on the runtime, ctx null for plain TCP.
template <class Serve>
int run_plain_or_tls_service(int argc, char** argv, const char* description, Serve serve) {
  options opts;
  opts.program = program_name(argc, argv);
  default_backend_from_env(opts);
  command_line cl(description, argc, argv);
  add_common_options(cl, opts, service_flags(1024));
  tls_files files;
  add_tls_flags(cl, files, /*required=*/false);
  cl.parse();
  require_built_backend(opts);
  std::optional<corio::tls::context> tls;
  if (!files.cert.empty()) {
    tls = tls_server_context(files);
    if (!tls) return 1;  // the reason is printed
  }
  const corio::tls::context* ctx = tls ? &*tls : nullptr;
  return run_service(opts, [&opts, ctx, &serve](corio::runtime& rt) { return serve(opts, rt, ctx); });
}

}  // namespace examples
