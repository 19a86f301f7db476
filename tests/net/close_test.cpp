// Closing a socket ends its pending operations (asio's semantics): close(), or destroying the
// socket, while another task awaits an operation on it resumes that operation with
// error::operation_aborted, on every backend, instead of leaving it suspended forever.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/udp.hpp>

#include "support.hpp"
#include "support/loopback_pair.hpp"

namespace {

using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using namespace corio::test;

class close_ends_pending : public backend_test {};

corio::net::socket_address loopback_v4() { return {corio::net::ip_address::loopback_v4(), 0}; }

bool aborted(std::error_code ec) { return ec == corio::error::operation_aborted; }

task<corio::result<std::size_t>> read_from(tcp_stream& s, std::span<std::byte> buf) {
  co_return co_await s.read(buf);
}

TEST_P(close_ends_pending, close_resumes_a_pending_read_with_operation_aborted) {
  run([]() -> task<> {
    auto p = co_await loopback_pair();
    CO_ASSERT_OK(p);
    std::array<std::byte, 64> buf{};
    auto reader = corio::spawn(read_from(p->server, buf));
    for (int i = 0; i < 4; ++i) co_await corio::yield();  // the read is waiting
    CO_ASSERT_TRUE(!reader.is_finished());
    p->server.close();
    CO_ASSERT_TRUE(co_await finishes_within(reader));
    auto r = co_await reader;
    CO_ASSERT_TRUE(!r);
    EXPECT_TRUE(aborted(r.error())) << r.error().message();
    EXPECT_TRUE(r.error() == std::errc::operation_canceled) << "it compares as asio's ECANCELED";
  }());
}

TEST_P(close_ends_pending, close_resumes_a_pending_read_exact_with_operation_aborted) {
  run([]() -> task<> {
    auto p = co_await loopback_pair();
    CO_ASSERT_OK(p);
    std::array<std::byte, 64> buf{};
    auto reader = corio::spawn([](tcp_stream& s, std::span<std::byte> b) -> task<corio::result<void>> {
      co_return co_await s.read_exact(b);
    }(p->server, buf));
    CO_ASSERT_OK(co_await p->client.write_all(bytes("part")));  // not enough: it keeps waiting
    for (int i = 0; i < 8; ++i) co_await corio::yield();
    CO_ASSERT_TRUE(!reader.is_finished());
    p->server.close();
    CO_ASSERT_TRUE(co_await finishes_within(reader));
    auto r = co_await reader;
    CO_ASSERT_TRUE(!r);
    EXPECT_TRUE(aborted(r.error())) << r.error().message();
  }());
}

TEST_P(close_ends_pending, destroying_a_listener_resumes_its_pending_accept) {
  run([]() -> task<> {
    auto l = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(l);
    auto listener = std::make_unique<tcp_listener>(std::move(*l));
    auto acceptor = corio::spawn([](tcp_listener& ls) -> task<corio::result<void>> {
      auto a = co_await ls.accept();
      if (!a) co_return a.error();
      co_return corio::result<void>();
    }(*listener));
    for (int i = 0; i < 4; ++i) co_await corio::yield();
    CO_ASSERT_TRUE(!acceptor.is_finished());
    listener.reset();
    CO_ASSERT_TRUE(co_await finishes_within(acceptor));
    auto r = co_await acceptor;
    CO_ASSERT_TRUE(!r);
    EXPECT_TRUE(aborted(r.error())) << r.error().message();
  }());
}

// A write the peer does not read blocks once both socket buffers are full.
TEST_P(close_ends_pending, close_resumes_a_blocked_write_all) {
  run([]() -> task<> {
    auto p = co_await loopback_pair();
    CO_ASSERT_OK(p);
    int small = 4096;
    (void)::setsockopt(p->server.raw().native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    (void)::setsockopt(p->client.raw().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::vector<std::byte> big(8 << 20);
    auto writer = corio::spawn([](tcp_stream& s, std::span<const std::byte> b) -> task<corio::result<void>> {
      co_return co_await s.write_all(b);
    }(p->server, big));
    for (int i = 0; i < 8; ++i) co_await corio::yield();
    CO_ASSERT_TRUE(!writer.is_finished());
    p->server.close();
    CO_ASSERT_TRUE(co_await finishes_within(writer));
    auto r = co_await writer;
    CO_ASSERT_TRUE(!r);
    EXPECT_TRUE(aborted(r.error())) << r.error().message();
  }());
}

TEST_P(close_ends_pending, close_resumes_a_pending_recv_from) {
  run([]() -> task<> {
    auto u = corio::udp_socket::bind(loopback_v4());
    CO_ASSERT_OK(u);
    std::array<std::byte, 64> buf{};
    auto receiver = corio::spawn([](corio::udp_socket& s, std::span<std::byte> b) -> task<bool> {
      auto r = co_await s.recv_from(b);
      co_return !r && aborted(r.error());
    }(*u, buf));
    for (int i = 0; i < 4; ++i) co_await corio::yield();
    CO_ASSERT_TRUE(!receiver.is_finished());
    u->close();
    CO_ASSERT_TRUE(co_await finishes_within(receiver));
    EXPECT_TRUE(co_await receiver);
  }());
}

// After the abort the socket slot is free again: a new socket on this thread works normally.
TEST_P(close_ends_pending, sockets_made_after_an_abort_work) {
  run([]() -> task<> {
    {
      auto p = co_await loopback_pair();
      CO_ASSERT_OK(p);
      std::array<std::byte, 8> buf{};
      auto reader = corio::spawn(read_from(p->server, buf));
      for (int i = 0; i < 4; ++i) co_await corio::yield();
      p->server.close();
      CO_ASSERT_TRUE(co_await finishes_within(reader));
      (void)co_await reader;  // aborted: checked by the tests above
    }
    auto q = co_await loopback_pair();
    CO_ASSERT_OK(q);
    CO_ASSERT_OK(co_await q->client.write_all(bytes("again")));
    std::array<std::byte, 5> got{};
    CO_ASSERT_OK(co_await q->server.read_exact(got));
    EXPECT_EQ(text(got), "again");
  }());
}

CORIO_INSTANTIATE_BACKENDS(close_ends_pending);

}  // namespace
