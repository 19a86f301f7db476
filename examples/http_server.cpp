// An HTTP/1.1 server that unmodified clients (curl, wrk, ab, h2load) can use, and that hostile
// ones cannot stall or bloat: keep-alive, pipelining (answers in request order), HTTP/1.0,
// Content-Length and chunked request bodies, all under hard limits (examples/http/).
//
//   GET|HEAD /plaintext  "Hello, World!"      GET|HEAD /  a line of text
//   POST /echo           the request body     anything else: 404 (405 for a wrong method)
//
// Refusals come at once, not after a timeout: a request line without an HTTP/1.x version
// (HTTP/0.9's "GET /") is 400 as soon as its line ends; with Expect: 100-continue, a body the
// answer does not want (413, 404, 405) gets that final status and a close instead of a 100,
// and a body /echo takes gets "100 Continue" first.
//
// The service shape is echo_server's: a corio::tcp_server runs one task per connection on
// every worker (--threads N, --accept), and on SIGINT/SIGTERM it stops accepting and every
// connection is cancelled and closed (each one closes in order, with a FIN).
//
// --tls-cert FILE --tls-key FILE (both or neither) serve HTTPS instead (tls/tls_service.hpp):
// the same connection code over a corio::tls::stream, after a bounded handshake.
#include <optional>
#include <string>
#include <utility>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/tls.hpp>

#include "common/options.hpp"
#include "common/run_service.hpp"
#include "http/connection.hpp"
#include "tls/tls_service.hpp"

namespace {

// `tls` points at main's context (it outlives the runtime); null serves plain HTTP.
corio::task<int> serve(const examples::options& opts, corio::runtime& rt,
                       const corio::tls::context* tls) {
  auto client = [tls](corio::tcp_stream s) -> corio::task<> {
    if (tls == nullptr) return http::serve_connection(std::move(s));
    return examples::serve_plain_or_tls(
        *tls, std::move(s), [](auto stream) { return http::serve_connection(std::move(stream)); });
  };
  co_return co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), client);
}

}  // namespace

int main(int argc, char** argv) {
  return examples::run_plain_or_tls_service(
      argc, argv, "HTTP/1.1 server: /plaintext, / and POST /echo, under hard limits", serve);
}
