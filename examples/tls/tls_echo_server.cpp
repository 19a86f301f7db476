// TLS echo: echo_server's contract (--port, --backend, --threads, --accept, the listening
// line, the signals of common/signals.hpp) with every connection wrapped in TLS by
// corio::tls::accept. Like echo_server it runs on a corio::runtime with --threads workers,
// serving through corio::tcp_server (common/run_service.hpp).
//
//   tls_echo_server --port 8443 --tls-cert cert.pem --tls-key key.pem
//   openssl s_client -connect 127.0.0.1:8443 -CAfile ca.pem -servername localhost
//
// --http-hello answers every HTTP request head with "Hello, World!" instead of echoing (keep-
// alive; `Connection: close` closes after the answer), for wrk over TLS (bench/services/
// https_bench.sh) until http_server speaks TLS itself.
//
// A connection whose handshake fails (a plaintext client, an unknown CA on the client's
// side, silence for --handshake-timeout-ms) is logged on stderr in one line and closed.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <corio/runtime.hpp>
#include <corio/serve.hpp>
#include <corio/tcp.hpp>
#include <corio/tls.hpp>
#include <fmt/core.h>

#include "common/options.hpp"
#include "common/run_service.hpp"
#include "common/service.hpp"
#include "tls/tls_service.hpp"

namespace {

std::chrono::milliseconds handshake_limit{10000};
bool http_hello = false;

// Answers each complete request head in `in` (bodies are not expected: GETs only) and keeps
// an incomplete one for the next read. A head longer than the buffer ends the connection.
corio::task<> hello(corio::tls::stream& s) {
  static constexpr std::string_view answer =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
  std::array<char, 8192> in;
  std::array<char, 16384> out;
  std::size_t have = 0;
  bool close_after = false;
  while (!close_after) {
    auto n = co_await s.read(std::as_writable_bytes(std::span(in).subspan(have)));
    if (!n || *n == 0) co_return;
    have += *n;
    std::size_t queued = 0;
    std::size_t start = 0;
    const std::string_view text(in.data(), have);
    for (std::size_t end; (end = text.find("\r\n\r\n", start)) != std::string_view::npos;) {
      if (text.substr(start, end - start).find("onnection: close") != std::string_view::npos) {
        close_after = true;
      }
      if (queued + answer.size() > out.size()) {
        if (!co_await s.write_all(std::as_bytes(std::span(out).first(queued)))) co_return;
        queued = 0;
      }
      answer.copy(out.data() + queued, answer.size());
      queued += answer.size();
      start = end + 4;
      if (close_after) break;
    }
    if (start == 0 && have == in.size()) co_return;  // a head that does not fit
    std::memmove(in.data(), in.data() + start, have - start);
    have -= start;
    if (!co_await s.write_all(std::as_bytes(std::span(out).first(queued)))) co_return;
  }
  (void)co_await s.shutdown();
}

// Generic over the stream (examples::serve_plain_or_tls): TLS here, plain TCP elsewhere.
template <class Stream>
corio::task<> echo(Stream s) {
  if constexpr (std::is_same_v<Stream, corio::tls::stream>) {
    if (http_hello) {
      co_await hello(s);
      examples::tls_close(s);
      co_return;
    }
  }
  std::array<std::byte, 16384> buffer;  // one record's payload
  bool clean_end = false;
  for (unsigned round = 1;; ++round) {
    auto n = co_await s.read(buffer);
    if (!n) break;  // truncated, reset or cancelled
    if (*n == 0) {
      clean_end = true;  // close_notify
      break;
    }
    if (!co_await s.write_all(std::span(buffer).first(*n))) break;
    if (round % 16 == 0) co_await corio::yield();  // a busy peer must not starve others
  }
  co_await examples::end_stream(s, clean_end);  // close_notify after the peer's, then FIN
}

corio::task<> session(const corio::tls::context& ctx, corio::tcp_stream tcp) {
  return examples::serve_plain_or_tls(
      ctx, std::move(tcp), [](auto s) { return echo(std::move(s)); }, handshake_limit);
}

// The handler holds a pointer to main's context (it outlives the runtime). A copy would be
// fine too, but not in a lambda written inside the co_await expression: GCC 12 destroys such
// a temporary twice, which freed the context under main at shutdown (87680de; see
// tests/tls/serve_context_test.cpp). Name such a handler before the co_await.
corio::task<int> serve(const examples::options& opts, corio::runtime& rt,
                       const corio::tls::context* ctx) {
  co_return co_await examples::serve_until_signal(
      opts, examples::bind_tcp(rt, opts),
      [ctx](corio::tcp_stream s) { return session(*ctx, std::move(s)); });
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opts;
  opts.program = examples::program_name(argc, argv);
  examples::default_backend_from_env(opts);
  examples::command_line cl(
      "TLS echo server over corio::tls (OpenSSL): echoes what each client sends.", argc, argv);
  examples::tls_files files;
  examples::add_common_options(cl, opts, examples::service_flags(1024));
  examples::add_tls_flags(cl, files, /*required=*/true);
  long handshake_ms = 10000;
  cl.option("--handshake-timeout-ms", handshake_ms, "close a connection whose handshake "
            "has not finished by then").range(1, 3600000);
  cl.flag("--http-hello", http_hello, "answer HTTP requests with Hello, World! (for wrk)");
  cl.parse();
  examples::require_built_backend(opts);
  handshake_limit = std::chrono::milliseconds(handshake_ms);

  auto ctx = examples::tls_server_context(files);
  if (!ctx) return 1;  // the reason is printed
  return examples::run_service(
      opts, [&opts, &ctx](corio::runtime& rt) { return serve(opts, rt, &*ctx); });
}
