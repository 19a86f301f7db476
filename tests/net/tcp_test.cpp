// corio::tcp_listener / corio::tcp_stream: echo over v4 and v6, many connections on one thread,
// megabyte transfers, end of stream, cancellation without data loss, one waiter per direction.
#include <corio/tcp.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/support.hpp"
#include "support/sanitizers.hpp"

// Every allocation in this binary is counted, so a test can show that socket operations, once
// warm, allocate nothing: their state lives in the awaiting frame. TSan's runtime owns the
// global operator new, so under TSan the count is off and that test skips.
#define CORIO_COUNT_ALLOCATIONS CORIO_TEST_CAN_REPLACE_NEW

namespace {
std::atomic<long> allocations{0};
}  // namespace

#if CORIO_COUNT_ALLOCATIONS
// noinline: inlined into a call site, gcc pairs malloc with `delete` and warns of a mismatch.
[[gnu::noinline]] void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using corio::net::socket_address;
using corio::test::bytes;
using corio::test::text;
using corio::test::finishes_within;

class tcp : public corio::test::backend_test {};

socket_address loopback_v4() { return socket_address(corio::net::ip_address::loopback_v4(), 0); }

// Echoes until end of stream, then closes.
task<> echo(tcp_stream s) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span(buf).first(*n))) co_return;
  }
}

task<> echo_round_trip(socket_address at) {
  auto listener = tcp_listener::bind(at);
  CO_ASSERT_OK(listener);
  auto where = listener->local_address();
  CO_ASSERT_OK(where);
  auto client = co_await tcp_stream::connect(*where);
  CO_ASSERT_OK(client);
  auto accepted = co_await listener->accept();
  CO_ASSERT_OK(accepted);
  EXPECT_EQ(accepted->second, *client->local_address());
  EXPECT_EQ(*client->peer_address(), *where);
  auto server = corio::spawn(echo(std::move(accepted->first)));

  CO_ASSERT_OK(client->set_nodelay(true));
  CO_ASSERT_OK(co_await client->write_all(bytes("hello, corio")));
  std::array<std::byte, 12> reply{};
  CO_ASSERT_OK(co_await client->read_exact(reply));
  EXPECT_EQ(text(reply), "hello, corio");
  CO_ASSERT_OK(client->shutdown_write());
  co_await server;  // the echo sees end of stream and returns
  std::array<std::byte, 1> more{};
  auto eof = co_await client->read(more);
  CO_ASSERT_OK(eof);
  EXPECT_EQ(*eof, 0u);
}

TEST_P(tcp, echo_over_ipv4_loopback) { run(echo_round_trip(loopback_v4())); }

TEST_P(tcp, echo_over_ipv6_loopback) {
  const socket_address v6(corio::net::ip_address::loopback_v6(), 0);
  if (auto probe = corio::net::tcp_listener::bind(v6); !probe) {
    GTEST_SKIP() << "no IPv6 loopback: " << probe.error().message();
  }
  run(echo_round_trip(socket_address(corio::net::ip_address::loopback_v6(), 0)));
}

task<> accept_and_echo(tcp_listener& listener, int count) {
  std::vector<corio::join_handle<>> echoes;
  for (int i = 0; i < count; ++i) {
    auto accepted = co_await listener.accept();
    CO_ASSERT_OK(accepted);
    echoes.push_back(corio::spawn(echo(std::move(accepted->first))));
  }
  for (auto& e : echoes) co_await e;
}

task<> chatty_client(socket_address at, int id, int messages, int& finished) {
  auto s = co_await tcp_stream::connect(at);
  CO_ASSERT_OK(s);
  for (int m = 0; m < messages; ++m) {
    const std::array<std::uint32_t, 2> out{static_cast<std::uint32_t>(id),
                                           static_cast<std::uint32_t>(m)};
    CO_ASSERT_OK(co_await s->write_all(std::as_bytes(std::span(out))));
    std::array<std::uint32_t, 2> in{};
    CO_ASSERT_OK(co_await s->read_exact(std::as_writable_bytes(std::span(in))));
    CO_ASSERT_TRUE(in == out);
  }
  ++finished;
}

TEST_P(tcp, hundred_clients_exchange_hundred_messages_each_on_one_thread) {
  constexpr int clients = 100;
  constexpr int messages = 100;
  int finished = 0;
  run([&]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4(), clients);
    CO_ASSERT_OK(listener);
    const socket_address at = *listener->local_address();
    auto server = corio::spawn(accept_and_echo(*listener, clients));
    std::vector<corio::join_handle<>> handles;
    for (int i = 0; i < clients; ++i) {
      handles.push_back(corio::spawn(chatty_client(at, i, messages, finished)));
    }
    for (auto& h : handles) co_await h;
    co_await server;
  }());
  EXPECT_EQ(finished, clients);
}

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<std::uint8_t>(i * 31 + seed));
  return v;
}

task<> send_all(tcp_stream& s, std::span<const std::byte> data) {
  auto r = co_await s.write_all(data);
  EXPECT_TRUE(r) << r.error().message();
}

TEST_P(tcp, read_exact_and_write_all_move_megabytes_both_ways) {
  constexpr std::size_t size = 4 << 20;  // far beyond the socket buffers: partial writes happen
  run([&]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    tcp_stream& c = b->first;
    const auto to_c = pattern(size, 1);
    const auto to_a = pattern(size, 2);
    auto w1 = corio::spawn(send_all(*a, to_c));
    auto w2 = corio::spawn(send_all(c, to_a));
    std::vector<std::byte> got_c(size), got_a(size);
    CO_ASSERT_OK(co_await c.read_exact(got_c));
    CO_ASSERT_OK(co_await a->read_exact(got_a));
    co_await w1;
    co_await w2;
    EXPECT_TRUE(got_c == to_c);
    EXPECT_TRUE(got_a == to_a);
  }());
}

TEST_P(tcp, read_exact_reports_end_of_stream_when_the_peer_stops_short) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    CO_ASSERT_OK(co_await a->write_all(bytes("abc")));
    a->close();
    std::array<std::byte, 8> buf{};
    auto r = co_await b->first.read_exact(buf);
    EXPECT_EQ(r.error(), corio::error::end_of_stream);
    auto eof = co_await b->first.read(buf);
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
  }());
}

TEST_P(tcp, connect_to_a_closed_port_fails_with_connection_refused) {
  run([]() -> task<> {
    socket_address at;
    {
      auto probe = tcp_listener::bind(loopback_v4());
      CO_ASSERT_OK(probe);
      at = *probe->local_address();
    }  // closed: nothing listens there now
    auto s = co_await tcp_stream::connect(at);
    CO_ASSERT_TRUE(!s);
    EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
  }());
}

// --- cancellation -----------------------------------------------------------------------------

task<> expect_canceled_accept(tcp_listener& l) {
  auto r = co_await l.accept();
  EXPECT_EQ(r.error(), std::errc::operation_canceled);
}

TEST_P(tcp, stop_cancels_a_pending_accept_and_the_listener_still_accepts) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto waiter = corio::spawn(expect_canceled_accept(*listener));
    co_await corio::yield();  // it is now suspended in accept
    EXPECT_FALSE(waiter.is_finished());
    waiter.request_stop();
    CO_ASSERT_TRUE(co_await finishes_within(waiter));
    auto c = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(c);
    auto a = co_await listener->accept();
    CO_ASSERT_OK(a);
  }());
}

task<> expect_canceled_read(tcp_stream& s) {
  std::array<std::byte, 16> buf{};
  auto r = co_await s.read(buf);
  EXPECT_EQ(r.error(), std::errc::operation_canceled);
  // A stopped task's later operations are cancelled too, even when data is there.
  auto again = co_await s.read(buf);
  EXPECT_EQ(again.error(), std::errc::operation_canceled);
}

// The read either lost the race (cancelled, the bytes stay in the kernel: readiness backends
// always, as they read nothing after a stop) or won it (io_uring: the kernel filled the buffer
// before the cancel reached it, and the bytes are delivered). Never both, never neither.
task<std::string> read_or_cancel(tcp_stream& s) {
  std::array<std::byte, 16> buf{};
  auto r = co_await s.read(buf);
  if (!r) {
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
    co_return std::string();
  }
  co_return text(std::span(buf).first(*r));
}

TEST_P(tcp, stop_cancels_a_pending_read_and_no_byte_is_lost) {
  run([kind = GetParam()]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    auto reader = corio::spawn(read_or_cancel(b->first));
    co_await corio::yield();
    EXPECT_FALSE(reader.is_finished());
    // The data and the stop request arrive together.
    CO_ASSERT_OK(co_await a->write_all(bytes("kept")));
    reader.request_stop();
    CO_ASSERT_TRUE(co_await finishes_within(reader));
    auto got = co_await reader;
    if (kind == corio::backend_kind::epoll) {
      EXPECT_EQ(got, "");
    }
    if (got.empty()) {
      std::array<std::byte, 4> buf{};
      CO_ASSERT_OK(co_await b->first.read_exact(buf));
      got = text(buf);
    }
    EXPECT_EQ(got, "kept");
  }());
}

TEST_P(tcp, stop_from_another_thread_cancels_a_pending_read) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    auto reader = corio::spawn(expect_canceled_read(b->first));
    co_await corio::yield();
    EXPECT_FALSE(reader.is_finished());
    std::thread([&reader] { reader.request_stop(); }).join();  // posts to our remote queue
    CO_ASSERT_TRUE(co_await finishes_within(reader));
  }());
}

// Writes into `s` until the kernel refuses more; returns how much it took.
std::size_t fill(tcp_stream& s) {
  std::vector<std::byte> chunk(1 << 16);
  std::size_t total = 0;
  for (;;) {
    auto n = s.raw().write(chunk);
    if (!n) {
      EXPECT_TRUE(corio::would_block(n.error())) << n.error().message();
      return total;
    }
    total += *n;
  }
}

task<> expect_canceled_write(tcp_stream& s) {
  const std::array<std::byte, 1024> block{};
  auto r = co_await s.write(block);
  EXPECT_EQ(r.error(), std::errc::operation_canceled);
}

TEST_P(tcp, stop_cancels_a_pending_write_and_the_stream_stays_usable) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    const std::size_t filled = fill(*a);
    CO_ASSERT_TRUE(filled > 0);
    auto writer = corio::spawn(expect_canceled_write(*a));
    co_await corio::yield();
    EXPECT_FALSE(writer.is_finished());
    writer.request_stop();
    CO_ASSERT_TRUE(co_await finishes_within(writer));
    // The peer gets exactly what was written before, then what is written after.
    std::vector<std::byte> drained(filled);
    auto tail = corio::spawn(send_all(*a, bytes("after")));
    CO_ASSERT_OK(co_await b->first.read_exact(drained));
    std::array<std::byte, 5> buf{};
    CO_ASSERT_OK(co_await b->first.read_exact(buf));
    EXPECT_EQ(text(buf), "after");
    co_await tail;
  }());
}

task<> read_one(tcp_stream& s, std::string& got) {
  std::array<std::byte, 16> buf{};
  auto n = co_await s.read(buf);
  CO_ASSERT_OK(n);
  got = text(std::span(buf).first(*n));
}

TEST_P(tcp, a_second_concurrent_read_is_busy) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    std::string got;
    auto first = corio::spawn(read_one(b->first, got));
    co_await corio::yield();
    std::array<std::byte, 16> buf{};
    auto second = co_await b->first.read(buf);
    EXPECT_EQ(second.error(), std::errc::device_or_resource_busy);
    CO_ASSERT_OK(co_await a->write_all(bytes("x")));
    co_await first;
    EXPECT_EQ(got, "x");
  }());
}

TEST_P(tcp, warm_reads_and_writes_do_not_allocate) {
  if (!CORIO_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are not counted under TSan";
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto a = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(a);
    auto b = co_await listener->accept();
    CO_ASSERT_OK(b);
    auto server = corio::spawn(echo(std::move(b->first)));
    std::array<std::byte, 64> out{};
    std::array<std::byte, 64> in{};
    auto ping = [&]() -> task<corio::result<void>> {  // each round suspends on both sides
      if (auto w = co_await a->write_all(out); !w) co_return w;
      co_return co_await a->read_exact(in);
    };
    for (int i = 0; i < 100; ++i) CO_ASSERT_OK(co_await ping());  // warm the frame pool
    const long before = allocations.load();
    for (int i = 0; i < 1000; ++i) {
      CO_ASSERT_OK(co_await a->write_all(out));
      CO_ASSERT_OK(co_await a->read_exact(in));
    }
    EXPECT_EQ(allocations.load() - before, 0);
    a->close();
    co_await server;
  }());
}

CORIO_INSTANTIATE_BACKENDS(tcp);

}  // namespace
