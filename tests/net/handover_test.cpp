// A read that waits when bytes arrive. On io_uring the engine hands a received buffer straight
// to the waiting reader (lib/completion/io_uring_engine.cpp, on_receive) instead of queuing it
// on the socket first; a buffer larger than the reader's room is queued, the reader gets what
// fits and the rest waits for the next read. Each test makes the reader wait first and sends
// the next piece only once the previous one reached the reader's buffer (watched from this
// thread, no sleeps), so every piece takes the waiting reader's path. Every backend runs them
// (epoll reads directly: the same promises).
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <span>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>

#include "executor/executor.hpp"
#include "support.hpp"

namespace {

using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using namespace corio::test;

class handover : public backend_test {};

constexpr std::byte poison{0xEE};
// Byte k of the stream: never the poison, and a lost, repeated or moved byte shows.
std::byte pattern(std::size_t k) { return static_cast<std::byte>(1 + (k * 7 + k / 200) % 200); }

std::size_t buffers_held() { return corio::detail::executor::current()->receive_buffers_held(); }

struct pair {
  tcp_stream near;  // reads
  tcp_stream far;   // sends with plain send(2), so nothing of corio runs on the sending side
};

task<corio::result<pair>> connect_pair() {
  auto l = tcp_listener::bind({corio::net::ip_address::loopback_v4(), 0});
  if (!l) co_return l.error();
  auto c = co_await tcp_stream::connect(*l->local_address());
  if (!c) co_return c.error();
  auto a = co_await l->accept();
  if (!a) co_return a.error();
  co_return pair{std::move(a->first), std::move(*c)};
}

// Sends bytes [from, from + n) of the pattern; loopback takes a few hundred bytes at once.
bool send_piece(tcp_stream& s, std::size_t from, std::size_t n) {
  std::array<std::byte, 512> piece{};
  if (n > piece.size()) return false;
  for (std::size_t i = 0; i < n; ++i) piece[i] = pattern(from + i);
  return ::send(s.raw().native_handle(), piece.data(), n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
}

// Yields (bounded) until `b` is no longer the poison: the reader's buffer got that byte.
task<bool> arrives(const std::byte& b) {
  for (int i = 0; i < 100'000; ++i) {
    if (b != poison) co_return true;
    co_await corio::yield();
  }
  co_return false;
}

// Readers spawned as tasks of their own; each sets `started` as it begins.
task<corio::result<std::size_t>> read_into(tcp_stream& s, std::span<std::byte> b, bool& started) {
  started = true;
  co_return co_await s.read(b);
}

task<corio::result<void>> read_exact_into(tcp_stream& s, std::span<std::byte> b, bool& started) {
  started = true;
  co_return co_await s.read_exact(b);
}

// Yields (bounded) until the spawned reader began: back here with `started` set, on this one
// thread, it is suspended in its read.
task<bool> until_started(const bool& started) {
  for (int i = 0; i < 100 && !started; ++i) co_await corio::yield();
  co_return started;
}

// A read with room for 10 bytes waits; a piece of `piece` bytes (the stream's first) arrives.
// True when the read got exactly the first 10.
task<bool> small_read_takes_ten_of(pair& p, std::size_t piece) {
  std::array<std::byte, 10> small;
  small.fill(poison);
  bool started = false;
  auto reader = corio::spawn(read_into(p.near, small, started));
  if (!co_await until_started(started) || !send_piece(p.far, 0, piece)) co_return false;
  if (!co_await finishes_within(reader, 100'000)) co_return false;
  auto got = co_await reader;
  if (!got || *got != small.size()) co_return false;
  for (std::size_t k = 0; k < small.size(); ++k) {
    if (small[k] != pattern(k)) co_return false;
  }
  co_return true;
}

// read_exact waits for 300 bytes; they come in five pieces, each sent only once the one
// before reached the buffer, so each piece finds the reader waiting with room to spare.
TEST_P(handover, a_waiting_read_exact_gets_each_piece_in_order) {
  run([]() -> task<> {
    auto p = co_await connect_pair();
    CO_ASSERT_OK(p);
    std::array<std::byte, 300> buf;
    buf.fill(poison);
    bool started = false;
    auto reader = corio::spawn(read_exact_into(p->near, buf, started));
    CO_ASSERT_TRUE(co_await until_started(started));
    constexpr std::array<std::size_t, 5> pieces{1, 64, 35, 100, 100};
    std::size_t sent = 0;
    for (std::size_t n : pieces) {
      CO_ASSERT_TRUE(!reader.is_finished());
      CO_ASSERT_TRUE(send_piece(p->far, sent, n));
      sent += n;
      CO_ASSERT_TRUE(co_await arrives(buf[sent - 1]));
    }
    CO_ASSERT_TRUE(sent == buf.size());
    CO_ASSERT_TRUE(co_await finishes_within(reader));
    auto r = co_await reader;
    CO_ASSERT_OK(r);
    for (std::size_t k = 0; k < buf.size(); ++k) {
      if (buf[k] != pattern(k)) {
        ADD_FAILURE() << "byte " << k << " is not the stream's byte " << k;
        break;
      }
    }
    EXPECT_EQ(buffers_held(), 0u);
  }());
}

// A read waits with room for 10 bytes; a piece of 100 arrives: the read gets the first 10,
// the other 90 stay queued (held in a receive buffer on io_uring) for the next read, which
// takes them without waiting, then reads wait again for the next piece.
TEST_P(handover, a_piece_larger_than_the_waiting_read_keeps_its_rest_for_the_next) {
  run([]() -> task<> {
    auto p = co_await connect_pair();
    CO_ASSERT_OK(p);
    CO_ASSERT_TRUE(co_await small_read_takes_ten_of(*p, 100));
    if (corio::detail::executor::current()->completion_based()) {
      EXPECT_GE(buffers_held(), 1u) << "the rest should wait in a receive buffer";
    }

    std::array<std::byte, 200> rest;
    rest.fill(poison);
    auto second = co_await p->near.read(rest);
    CO_ASSERT_OK(second);
    EXPECT_EQ(*second, 90u);
    for (std::size_t k = 0; k < 90; ++k) EXPECT_EQ(rest[k], pattern(10 + k)) << k;
    EXPECT_EQ(rest[90], poison);
    EXPECT_EQ(buffers_held(), 0u);

    // Nothing queued now: the next read waits, and the next piece comes whole.
    rest.fill(poison);
    bool started = false;
    auto again = corio::spawn(read_into(p->near, rest, started));
    CO_ASSERT_TRUE(co_await until_started(started));
    CO_ASSERT_TRUE(!again.is_finished());
    CO_ASSERT_TRUE(send_piece(p->far, 100, 50));
    CO_ASSERT_TRUE(co_await finishes_within(again, 100'000));
    auto third = co_await again;
    CO_ASSERT_OK(third);
    EXPECT_EQ(*third, 50u);
    for (std::size_t k = 0; k < 50; ++k) EXPECT_EQ(rest[k], pattern(100 + k)) << k;
  }());
}

// A read_exact that finds part of its bytes already there (queued on io_uring: taken without
// making an operation) takes them, then waits for the rest, which lands behind them.
TEST_P(handover, a_read_exact_takes_what_is_queued_then_waits_for_the_rest) {
  run([]() -> task<> {
    auto p = co_await connect_pair();
    CO_ASSERT_OK(p);
    CO_ASSERT_TRUE(co_await small_read_takes_ten_of(*p, 30));

    std::array<std::byte, 50> exact;
    exact.fill(poison);
    bool started = false;
    auto reader = corio::spawn(read_exact_into(p->near, exact, started));
    CO_ASSERT_TRUE(co_await until_started(started));
    // The 20 bytes left over came at once; the read waits for the other 30.
    CO_ASSERT_TRUE(co_await arrives(exact[19]));
    EXPECT_EQ(exact[20], poison);
    CO_ASSERT_TRUE(!reader.is_finished());
    CO_ASSERT_TRUE(send_piece(p->far, 30, 30));
    CO_ASSERT_TRUE(co_await finishes_within(reader, 100'000));
    auto r = co_await reader;
    CO_ASSERT_OK(r);
    for (std::size_t k = 0; k < exact.size(); ++k) {
      if (exact[k] != pattern(10 + k)) {
        ADD_FAILURE() << "byte " << k << " is not the stream's byte " << 10 + k;
        break;
      }
    }
    EXPECT_EQ(buffers_held(), 0u);
  }());
}

CORIO_INSTANTIATE_BACKENDS(handover);

}  // namespace
