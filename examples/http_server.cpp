// An HTTP/1.1 server that unmodified clients (curl, wrk, ab, h2load) can use, and that hostile
// ones cannot stall or bloat: keep-alive, pipelining (answers in request order), HTTP/1.0,
// Content-Length and chunked request bodies, all under hard limits (examples/http/).
//
//   GET|HEAD /plaintext  "Hello, World!"      GET|HEAD /  a line of text
//   POST /echo           the request body     anything else: 404 (405 for a wrong method)
//
// The service shape is echo_server's: one task per connection, a listener task, and on
// SIGINT/SIGTERM the listener stops and every connection is cancelled and closed (each one
// closes in order, with a FIN). --threads N > 1 runs a shard per worker (common/sharded.hpp).
#include <chrono>
#include <system_error>
#include <utility>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <fmt/core.h>

#include "common/accept_loop.hpp"
#include "common/service.hpp"
#include "common/sharded.hpp"
#include "http/connection.hpp"

namespace {

using namespace std::chrono_literals;

// Stops accepting first, so that the list of clients is final, then cancels them all.
corio::task<> close_all(corio::tcp_listener& listener, std::vector<corio::join_handle<>>& clients) {
  examples::close_backlog(listener);
  listener.close();
  for (auto& c : clients) c.request_stop();
  for (auto& c : clients) co_await c;
}

corio::task<int> serve(examples::options opts) {
  // Watched before the line is printed: a script may signal as soon as it reads it.
  corio::signal_set signals;
  if (!signals.add(SIGINT) || !signals.add(SIGTERM)) co_return 1;
  auto listener = corio::tcp_listener::bind(examples::loopback(opts));
  auto bound = listener ? listener->local_address()
                        : corio::result<corio::net::socket_address>(listener.error());
  if (!bound) {
    fmt::print(stderr, "listen: {}\n", bound.error().message());
    co_return 1;
  }
  examples::announce(*bound);

  std::vector<corio::join_handle<>> clients;
  auto start = [](corio::tcp_stream s) { return http::serve_connection(std::move(s)); };
  auto acceptor = corio::spawn(examples::accept_clients(*listener, clients, start));
  auto received = co_await signals.wait();
  acceptor.request_stop();
  co_await acceptor;
  co_await close_all(*listener, clients);
  co_return received ? 0 : 1;
}

// One worker's share: its listener and the connections accepted on it, cancelled together.
corio::task<> shard(corio::tcp_listener listener) {
  std::vector<corio::join_handle<>> clients;
  auto start = [](corio::tcp_stream s) { return http::serve_connection(std::move(s)); };
  co_await examples::accept_clients(listener, clients, start);  // until the shard is cancelled
  co_await close_all(listener, clients);
}

// Runs on the worker that is to own the listener (a socket belongs to its thread).
corio::task<corio::result<examples::started_shard>> start_shard(corio::net::socket_address at) {
  corio::net::bind_options options;
  options.reuse_port = true;
  auto listener = corio::tcp_listener::bind(at, options);
  if (!listener) co_return listener.error();
  auto bound = listener->local_address();
  if (!bound) co_return bound.error();
  co_return examples::started_shard{*bound, corio::spawn(shard(std::move(*listener)))};
}

}  // namespace

int main(int argc, char** argv) {
  const auto opts = examples::parse_service_options(argc, argv, 1024);
  return examples::run_service("http_server", opts, serve, start_shard);
}
