// On io_uring, stream reads come from a multishot receive into shared, kernel-filled buffers
// (lib/completion/received_buffers.hpp) and accepts from a multishot accept
// (lib/completion/accepted_connections.hpp). These tests hold both to the promises of the plain
// calls: every byte once and in order, the end of the stream after the last byte, a cancelled
// read losing nothing, a reader that lags holding a bounded amount, a closed socket giving its
// buffers back; every connection accepted once with its peer's address, and a closed listener
// letting go of the connections it queued. Each runs on every backend (epoll reads directly:
// the same promises) and with three buffer configurations: the default pool, a pool of two
// buffers (dry all the time, so reads fall back to direct requests mid-stream) and buffered
// receive turned off.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/when.hpp>

#include "executor/executor.hpp"
#include "support.hpp"

namespace {

using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using namespace corio::test;

using buffer_setting = std::tuple<corio::backend_kind, const char*>;

class multishot : public ::testing::TestWithParam<buffer_setting> {
 protected:
  void SetUp() override {
    auto p = corio::poll::create(std::get<0>(GetParam()));
    if (!p && p.error() == corio::error::backend_unavailable) GTEST_SKIP() << "kernel refuses it";
    // Read when an executor is made; tests run one at a time in this binary.
    ::setenv("CORIO_RECV_BUFFERS", std::get<1>(GetParam()), 1);
  }
  void TearDown() override { ::unsetenv("CORIO_RECV_BUFFERS"); }
  template <class T>
  T run(task<T> t) {
    corio::runtime_options options;
    options.backend = std::get<0>(GetParam());
    return corio::block_on(std::move(t), options);
  }
};

std::size_t buffers_held() { return corio::detail::executor::current()->receive_buffers_held(); }

struct pair {
  tcp_stream near;
  tcp_stream far;
};

task<corio::result<pair>> connect_pair(tcp_listener& l) {
  auto c = co_await tcp_stream::connect(*l.local_address());
  if (!c) co_return c.error();
  auto a = co_await l.accept();
  if (!a) co_return a.error();
  co_return pair{std::move(a->first), std::move(*c)};
}

task<corio::result<tcp_listener>> listen() {
  co_return tcp_listener::bind({corio::net::ip_address::loopback_v4(), 0});
}

// Byte k of stream `s`: a pattern that a lost, repeated or reordered byte breaks.
std::byte pattern(std::size_t s, std::size_t k) {
  return static_cast<std::byte>((k * 131 + s * 7 + k / 251) & 0xFF);
}

task<corio::result<void>> send_pattern(tcp_stream& s, std::size_t stream, std::size_t total,
                                       std::size_t chunk) {
  std::vector<std::byte> buf(chunk);
  for (std::size_t sent = 0; sent < total;) {
    const std::size_t n = std::min(chunk, total - sent);
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern(stream, sent + i);
    auto r = co_await s.write_all(std::span(buf).first(n));
    if (!r) co_return r;
    sent += n;
  }
  co_return corio::result<void>();
}

// Reads `total` bytes in reads of at most `chunk`, alternating read and read_exact; returns
// the offset of the first wrong byte, or total.
task<corio::result<std::size_t>> check_pattern(tcp_stream& s, std::size_t stream,
                                               std::size_t total, std::size_t chunk) {
  std::vector<std::byte> buf(chunk);
  std::size_t got = 0;
  bool exact = false;
  while (got < total) {
    const std::size_t want = std::min(chunk, total - got);
    std::size_t n = want;
    if (exact) {
      auto r = co_await s.read_exact(std::span(buf).first(want));
      if (!r) co_return r.error();
    } else {
      auto r = co_await s.read(std::span(buf).first(want));
      if (!r) co_return r.error();
      if (*r == 0) co_return corio::error::end_of_stream;
      n = *r;
    }
    exact = !exact;
    for (std::size_t i = 0; i < n; ++i) {
      if (buf[i] != pattern(stream, got + i)) co_return got + i;
    }
    got += n;
  }
  co_return got;
}

TEST_P(multishot, many_streams_deliver_every_byte_in_order) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    constexpr std::size_t streams = 12;
    constexpr std::size_t total = 300'000;
    std::vector<pair> pairs;
    for (std::size_t i = 0; i < streams; ++i) {
      auto p = co_await connect_pair(*l);
      CO_ASSERT_OK(p);
      pairs.push_back(std::move(*p));
    }
    std::vector<corio::join_handle<corio::result<void>>> writers;
    std::vector<corio::join_handle<corio::result<std::size_t>>> readers;
    for (std::size_t i = 0; i < streams; ++i) {
      // Odd chunk sizes on both sides, so reads split and join the kernel's buffers.
      writers.push_back(corio::spawn(send_pattern(pairs[i].far, i, total, 1 + i * 977)));
      readers.push_back(corio::spawn(check_pattern(pairs[i].near, i, total, 7 + i * 613)));
    }
    for (auto& w : writers) EXPECT_TRUE((co_await w).has_value());
    for (auto& r : readers) {
      auto got = co_await r;
      CO_ASSERT_OK(got);
      EXPECT_EQ(*got, total);
    }
    EXPECT_EQ(buffers_held(), 0u);
  }());
}

TEST_P(multishot, end_of_stream_comes_after_the_last_byte_and_stays) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    auto p = co_await connect_pair(*l);
    CO_ASSERT_OK(p);
    CO_ASSERT_OK(co_await p->far.write_all(bytes("last words")));
    CO_ASSERT_TRUE(::shutdown(p->far.raw().native_handle(), SHUT_WR) == 0);
    std::string got;
    std::array<std::byte, 3> buf{};
    for (int i = 0; i < 20; ++i) {
      auto n = co_await p->near.read(buf);
      CO_ASSERT_OK(n);
      if (*n == 0) break;
      got += text(std::span(buf).first(*n));
    }
    EXPECT_EQ(got, "last words");
    for (int i = 0; i < 3; ++i) {  // and again: the end is not consumed by reporting it
      auto n = co_await p->near.read(buf);
      CO_ASSERT_OK(n);
      EXPECT_EQ(*n, 0u);
    }
    std::array<std::byte, 4> more{};
    auto exact = co_await p->near.read_exact(more);
    EXPECT_TRUE(!exact && exact.error() == corio::error::end_of_stream);
    EXPECT_EQ(buffers_held(), 0u);
  }());
}

TEST_P(multishot, a_cancelled_read_leaves_the_bytes_for_the_next_one) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    auto p = co_await connect_pair(*l);
    CO_ASSERT_OK(p);
    for (int round = 0; round < 5; ++round) {
      std::array<std::byte, 64> buf{};
      auto pending = corio::spawn([](tcp_stream& s, std::span<std::byte> b) -> task<std::size_t> {
        auto n = co_await s.read(b);
        co_return n ? *n : 0;
      }(p->near, buf));
      for (int turn = 0; turn < 3; ++turn) co_await corio::yield();
      EXPECT_FALSE(pending.is_finished());
      pending.request_stop();
      CO_ASSERT_TRUE(co_await finishes_within(pending));
      CO_ASSERT_OK(co_await p->far.write_all(bytes("round")));
      std::array<std::byte, 5> got{};
      CO_ASSERT_OK(co_await p->near.read_exact(got));
      EXPECT_EQ(text(got), "round");
    }
  }());
}

TEST_P(multishot, a_reader_that_lags_holds_a_bounded_amount_and_loses_nothing) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    auto slow = co_await connect_pair(*l);
    CO_ASSERT_OK(slow);
    auto busy = co_await connect_pair(*l);
    CO_ASSERT_OK(busy);
    constexpr std::size_t total = 4 << 20;
    auto flood = corio::spawn(send_pattern(slow->far, 1, total, 65536));
    // Arm the slow side's receive, then stop reading while the peer floods it.
    CO_ASSERT_OK(co_await check_pattern(slow->near, 1, 1, 1));
    std::size_t most_held = 0;
    for (int i = 0; i < 200; ++i) {
      CO_ASSERT_OK(co_await busy->far.write_all(bytes("ping")));
      std::array<std::byte, 4> got{};
      CO_ASSERT_OK(co_await busy->near.read_exact(got));  // the other stream is not starved
      most_held = std::max(most_held, buffers_held());
    }
    // socket_cap (64 KiB) in 2 KiB buffers, plus what arrives before the stop takes effect.
    EXPECT_LE(most_held, 64u);
    std::size_t offset = 1;
    std::vector<std::byte> buf(100'000);
    while (offset < total) {
      auto n = co_await slow->near.read(buf);
      CO_ASSERT_OK(n);
      CO_ASSERT_TRUE(*n > 0);
      for (std::size_t i = 0; i < *n; ++i) {
        if (buf[i] != pattern(1, offset + i)) {
          ADD_FAILURE() << "wrong byte at " << offset + i;
          co_return;
        }
      }
      offset += *n;
    }
    EXPECT_TRUE((co_await flood).has_value());
  }());
}

TEST_P(multishot, closing_a_socket_with_bytes_queued_gives_its_buffers_back) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    std::vector<std::byte> payload(6000, std::byte{'x'});
    for (int round = 0; round < 40; ++round) {
      auto p = co_await connect_pair(*l);
      CO_ASSERT_OK(p);
      CO_ASSERT_OK(co_await p->far.write_all(payload));
      std::array<std::byte, 1> one{};
      CO_ASSERT_OK(co_await p->near.read_exact(one));  // the rest is queued, or in the socket
      p->near = tcp_stream();
    }
    // Late completions of the closed sockets' receives come back within a few turns.
    for (int turn = 0; turn < 100 && buffers_held() != 0; ++turn) co_await corio::yield();
    EXPECT_EQ(buffers_held(), 0u);
    // And the pool still serves: a new stream reads through it.
    auto p = co_await connect_pair(*l);
    CO_ASSERT_OK(p);
    auto w = corio::spawn(send_pattern(p->far, 3, 50'000, 3000));
    auto got = co_await check_pattern(p->near, 3, 50'000, 4096);
    CO_ASSERT_OK(got);
    EXPECT_EQ(*got, 50'000u);
    EXPECT_TRUE((co_await w).has_value());
  }());
}

TEST_P(multishot, a_released_stream_takes_no_more_bytes_on_this_executor) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    auto p = co_await connect_pair(*l);
    CO_ASSERT_OK(p);
    for (int round = 0; round < 20; ++round) {
      CO_ASSERT_OK(co_await p->far.write_all(bytes("A")));
      std::array<std::byte, 1> a{};
      CO_ASSERT_OK(co_await p->near.read_exact(a));  // io_uring: its receive is now armed
      corio::net::tcp_stream raw = p->near.release();
      // Sent with a plain syscall after the hand-over: it must wait in the socket for the new
      // owner, not land in this executor's buffers.
      CO_ASSERT_TRUE(::send(p->far.raw().native_handle(), "BC", 2, MSG_NOSIGNAL) == 2);
      auto again = tcp_stream::from_raw(std::move(raw));
      CO_ASSERT_OK(again);
      p->near = std::move(*again);
      std::array<std::byte, 2> bc{};
      auto read = corio::spawn([](tcp_stream& s, std::span<std::byte> b) -> task<corio::result<void>> {
        co_return co_await s.read_exact(b);
      }(p->near, bc));
      // Bounded: bytes the old receive took would never come (with cooperative task work, a
      // release() that only queued the cancel lost them here).
      CO_ASSERT_TRUE(co_await finishes_within(read, 1000));
      CO_ASSERT_OK(co_await read);
      EXPECT_EQ(text(bc), "BC");
    }
    EXPECT_EQ(buffers_held(), 0u);
  }());
}

TEST_P(multishot, a_burst_of_connections_is_accepted_once_each_with_its_peer) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    constexpr std::size_t n = 150;  // more than accept_queue::cap: the backlog holds the rest
    std::vector<corio::join_handle<corio::result<tcp_stream>>> clients;
    for (std::size_t i = 0; i < n; ++i) {
      clients.push_back(corio::spawn([](corio::net::socket_address to) -> task<corio::result<tcp_stream>> {
        co_return co_await tcp_stream::connect(to);
      }(*l->local_address())));
    }
    std::vector<tcp_stream> near;
    std::vector<corio::net::socket_address> peers;
    for (std::size_t i = 0; i < n; ++i) {
      auto a = co_await l->accept();
      CO_ASSERT_OK(a);
      peers.push_back(a->second);
      near.push_back(std::move(a->first));
    }
    std::vector<corio::net::socket_address> locals;
    std::vector<tcp_stream> far;
    for (auto& c : clients) {
      auto s = co_await c;
      CO_ASSERT_OK(s);
      auto local = s->raw().local_address();
      CO_ASSERT_OK(local);
      locals.push_back(*local);
      far.push_back(std::move(*s));
    }
    // Every peer address names exactly one client (none twice, none missing).
    for (const auto& local : locals) {
      EXPECT_EQ(std::count(peers.begin(), peers.end(), local), 1) << local.to_string();
    }
    // And each accepted stream is connected to the client it names.
    for (std::size_t i = 0; i < n; i += 37) {
      CO_ASSERT_OK(co_await near[i].write_all(bytes("hi")));
      const auto at = std::find(locals.begin(), locals.end(), peers[i]) - locals.begin();
      std::array<std::byte, 2> got{};
      CO_ASSERT_OK(co_await far[static_cast<std::size_t>(at)].read_exact(got));
      EXPECT_EQ(text(got), "hi");
    }
  }());
}

TEST_P(multishot, a_closed_listener_lets_go_of_the_connections_it_queued) {
  run([]() -> task<> {
    auto l = co_await listen();
    CO_ASSERT_OK(l);
    std::vector<tcp_stream> far;
    for (int i = 0; i < 10; ++i) {
      auto c = co_await tcp_stream::connect(*l->local_address());
      CO_ASSERT_OK(c);
      far.push_back(std::move(*c));
    }
    auto first = co_await l->accept();  // io_uring: the other nine now wait in user space
    CO_ASSERT_OK(first);
    *l = tcp_listener();
    // Each unaccepted client sees its connection end (reset or end of stream), not silence.
    for (std::size_t i = 1; i < far.size(); ++i) {
      auto r = corio::spawn([](tcp_stream& s) -> task<corio::result<std::size_t>> {
        std::array<std::byte, 8> buf{};
        co_return co_await s.read(buf);
      }(far[i]));
      CO_ASSERT_TRUE(co_await finishes_within(r, 1000));
      auto got = co_await r;
      EXPECT_TRUE(got ? *got == 0 : got.error() == std::errc::connection_reset) << i;
    }
  }());
}

std::string setting_name(const ::testing::TestParamInfo<buffer_setting>& info) {
  const std::string buffers = std::get<1>(info.param);
  return std::string(corio::to_string(std::get<0>(info.param))) + "_" +
         (buffers.empty() ? "default" : buffers == "0" ? "off" : "pool" + buffers);
}

INSTANTIATE_TEST_SUITE_P(
    backends, multishot,
    ::testing::Combine(::testing::ValuesIn(corio::built_backends().begin(),
                                           corio::built_backends().end()),
                       ::testing::Values("", "2", "0")),
    setting_name);

}  // namespace
