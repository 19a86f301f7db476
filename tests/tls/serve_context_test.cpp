// A TLS context captured by value in corio::tcp_server's handler, at two threads, in the
// services' shapes: every copy the server made is released exactly once (the context's
// reference count is back to main's one; a counted capture never goes below zero).
//
// Why this is worth a test: the services once freed their context at shutdown while main still
// held it (ASan, heap-use-after-free). serve.hpp was not the cause: GCC 12 destroys twice a
// closure (or aggregate) temporary created inside a co_await expression, e.g.
//   co_return co_await serve_until_signal(opts, server, [ctx](tcp_stream s) { ... });
// (clang 14 is right; the same happens with any callee, coroutine or not, and never when the
// lambda is named before the co_await). So a handler with captures that own something is
// named first, as these tests and examples/ do.
#include <corio/serve.hpp>
#include <corio/tls.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <utility>

#include "net/support.hpp"
#include "tls/test_pki.hpp"

namespace {

using namespace std::chrono_literals;
using corio::task;
using corio::tcp_stream;
namespace tls = corio::tls;

corio::net::socket_address loopback() { return {corio::net::ip_address::loopback_v4(), 0}; }

// Copies alive; `lowest` catches one destroyed twice even if another leaks.
std::atomic<long> alive{0};
std::atomic<long> lowest{0};

struct counted {
  counted() noexcept { alive.fetch_add(1); }
  counted(const counted&) noexcept { alive.fetch_add(1); }
  counted(counted&&) noexcept { alive.fetch_add(1); }
  counted& operator=(const counted&) = default;
  counted& operator=(counted&&) = default;
  ~counted() {
    const long now = alive.fetch_sub(1) - 1;
    long low = lowest.load();
    while (now < low && !lowest.compare_exchange_weak(low, now)) {
    }
  }
};

// One TLS echo of "ping" through the server at `to`, then close_notify.
task<> one_client(corio::net::socket_address to) {
  auto cctx = tls::context::client().value();
  CO_ASSERT_OK(cctx.load_ca_pem(corio::test::pki().ca.cert));
  auto c = co_await tls::connect(cctx, to, "localhost", 5000ms);
  CO_ASSERT_OK(c);
  CO_ASSERT_OK(co_await c->write_all(corio::test::bytes("ping")));
  std::array<std::byte, 4> back;
  CO_ASSERT_OK(co_await c->read_exact(back));
  CO_ASSERT_OK(co_await c->shutdown());
}

template <class Handler>
void serve_and_stop(corio::runtime& rt, Handler handler, int clients) {
  auto server = corio::tcp_server::bind(rt, loopback());
  ASSERT_TRUE(server);
  const auto at = server->local_address();
  rt.run([](corio::tcp_server s, Handler h, corio::net::socket_address to, int n) -> task<> {
    auto serving = corio::spawn(std::move(s).serve(std::move(h)));
    for (int i = 0; i < n; ++i) co_await one_client(to);
    serving.request_stop();
    auto served = co_await serving;
    EXPECT_TRUE(served) << served.error().message();
  }(std::move(*server), std::move(handler), at, clients));
}

task<> echo_tls(const tls::context& ctx, tcp_stream tcp) {
  auto s = co_await tls::accept(ctx, std::move(tcp), 5000ms);
  if (!s) co_return;
  std::array<std::byte, 64> buf;
  for (int i = 0; i < 100; ++i) {
    auto n = co_await s->read(buf);
    if (!n || *n == 0) break;
    if (!co_await s->write_all(std::span(buf).first(*n))) break;
  }
  (void)co_await s->shutdown();
}

TEST(tls_serve, context_copies_in_handlers_are_released_once) {
  auto ctx = tls::context::server().value();
  ASSERT_TRUE(ctx.use_certificate_chain_pem(corio::test::pki().server.cert));
  ASSERT_TRUE(ctx.use_private_key_pem(corio::test::pki().server.key));
  alive = 0;
  lowest = 0;
  {
    corio::runtime_options o;
    o.threads = 2;
    corio::runtime rt(o);
    serve_and_stop(rt, [ctx, c = counted()](tcp_stream s) { return echo_tls(ctx, std::move(s)); },
                   4);
  }
  EXPECT_EQ(ctx.get_impl().use_count(), 1) << "copies of the context left or released twice";
  EXPECT_EQ(alive.load(), 0);
  EXPECT_GE(lowest.load(), 0) << "a handler copy was destroyed twice";
}

// The services' shape (examples/common/run_service.hpp): a coroutine that serves until
// stopped, given the handler by value from a co_await expression; the handler is named first.
template <class Handler>
task<int> serve_until_stopped(corio::tcp_server s, Handler h, corio::net::socket_address to,
                              int n) {
  auto serving = corio::spawn(std::move(s).serve(std::move(h)));
  for (int i = 0; i < n; ++i) co_await one_client(to);
  serving.request_stop();
  auto served = co_await serving;
  co_return served ? 0 : 1;
}

task<int> serve_tls(corio::tcp_server s, const tls::context* ctx, corio::net::socket_address to) {
  // Named outside the co_await: GCC 12 would destroy a temporary lambda here twice (see top).
  auto handler = [c = *ctx, k = counted()](tcp_stream t) { return echo_tls(c, std::move(t)); };
  co_return co_await serve_until_stopped(std::move(s), handler, to, 4);
}

TEST(tls_serve, handler_passed_through_a_co_await_expression_is_released_once) {
  auto ctx = tls::context::server().value();
  ASSERT_TRUE(ctx.use_certificate_chain_pem(corio::test::pki().server.cert));
  ASSERT_TRUE(ctx.use_private_key_pem(corio::test::pki().server.key));
  alive = 0;
  lowest = 0;
  {
    corio::runtime_options o;
    o.threads = 2;
    corio::runtime rt(o);
    auto server = corio::tcp_server::bind(rt, loopback());
    ASSERT_TRUE(server);
    const auto at = server->local_address();
    EXPECT_EQ(rt.run(serve_tls(std::move(*server), &ctx, at)), 0);
  }
  EXPECT_EQ(ctx.get_impl().use_count(), 1) << "copies of the context left or released twice";
  EXPECT_EQ(alive.load(), 0);
  EXPECT_GE(lowest.load(), 0) << "a handler copy was destroyed twice";
}

}  // namespace
