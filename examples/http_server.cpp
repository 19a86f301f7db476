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
#include <utility>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>

#include "common/run_service.hpp"
#include "http/connection.hpp"

namespace {

corio::task<int> serve(const examples::options& opts, corio::runtime& rt) {
  auto client = [](corio::tcp_stream s) { return http::serve_connection(std::move(s)); };
  co_return co_await examples::serve_until_signal(opts, examples::bind_tcp(rt, opts), client);
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(
      argc, argv, "HTTP/1.1 server: /plaintext, / and POST /echo, under hard limits", 1024);
  return examples::run_service(opts, [&opts](corio::runtime& rt) { return serve(opts, rt); });
}
