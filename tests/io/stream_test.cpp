// The stream helpers (corio/stream.hpp) over real TCP connections, on every backend.
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/stream.hpp>
#include <corio/time.hpp>

#include "../net/support.hpp"
#include "stream_pair.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> pattern(std::size_t n, unsigned seed = 1) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed;
  for (auto& b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<std::byte>(x >> 16);
  }
  return v;
}

// Reads until end of stream (at most `limit` bytes), in small reads with yields: a slow reader.
task<std::vector<std::byte>> read_all(tcp_stream& s, std::size_t limit) {
  std::vector<std::byte> got;
  std::array<std::byte, 1500> buf;
  while (got.size() <= limit) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    co_await yield();
  }
  co_return got;
}

class stream_test : public backend_test {};

TEST_P(stream_test, read_line_splits_lines_and_keeps_an_unfinished_one) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    CO_ASSERT_OK(co_await p->left.write_all(bytes("hello\r\nworld\n\npartial")));
    CO_ASSERT_OK(p->left.shutdown_write());
    buffered_reader in(p->right);
    std::vector<std::string> lines;
    for (int i = 0; i < 10; ++i) {
      auto line = co_await in.read_line(64);
      if (!line) {
        EXPECT_EQ(line.error(), stream_error::incomplete_line) << line.error().message();
        break;
      }
      lines.emplace_back(*line);
    }
    EXPECT_EQ(lines, (std::vector<std::string>{"hello", "world", ""}));
    EXPECT_EQ(text(in.buffered()), "partial");
    in.consume(in.buffered().size());
    auto end = co_await in.read_line(64);
    EXPECT_EQ(end.error(), error::end_of_stream);
  }());
}

// The README says so: a read of nothing returns 0 at once, with no input waiting and with the
// peer's end already there; only a non-empty read reports the end of the stream.
TEST_P(stream_test, a_zero_length_read_returns_0_at_once_and_is_not_the_end) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    const auto start = std::chrono::steady_clock::now();
    auto none = co_await p->right.read({});  // nothing sent: it must not wait for input
    CO_ASSERT_OK(none);
    EXPECT_EQ(*none, 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    CO_ASSERT_OK(co_await p->left.write_all(bytes("x")));
    CO_ASSERT_OK(p->left.shutdown_write());
    buffered_reader in(p->right);
    auto still_none = co_await in.read({});
    CO_ASSERT_OK(still_none);
    EXPECT_EQ(*still_none, 0u);
    std::array<std::byte, 8> buf;
    auto one = co_await p->right.read(buf);
    CO_ASSERT_OK(one);
    EXPECT_EQ(*one, 1u);
    auto end = co_await p->right.read(buf);  // now the end of the stream
    CO_ASSERT_OK(end);
    EXPECT_EQ(*end, 0u);
  }());
}

TEST_P(stream_test, lines_arriving_a_byte_at_a_time_through_a_small_buffer) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    std::string all;
    for (int i = 0; i < 50; ++i) all += "line " + std::to_string(i) + "\n";
    auto writer = spawn([](tcp_stream& s, std::string data) -> task<> {
      for (char c : data) {
        if (!co_await s.write_all(bytes(std::string_view(&c, 1)))) co_return;
        co_await yield();
      }
      (void)s.shutdown_write();
    }(p->left, all));
    buffered_reader in(p->right, 16);  // compacts again and again
    int count = 0;
    for (int i = 0; i < 60; ++i) {
      auto line = co_await in.read_line(16);
      if (!line) {
        EXPECT_EQ(line.error(), error::end_of_stream);
        break;
      }
      EXPECT_EQ(*line, "line " + std::to_string(count));
      ++count;
    }
    EXPECT_EQ(count, 50);
    co_await writer;
  }());
}

TEST_P(stream_test, a_line_over_the_limit_is_an_error_and_loses_nothing) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    const std::string longline(100, 'x');
    CO_ASSERT_OK(co_await p->left.write_all(bytes(longline + "\nok\n")));
    buffered_reader in(p->right, 128);
    auto first = co_await in.read_line(32);
    CO_ASSERT_TRUE(!first);
    EXPECT_EQ(first.error(), stream_error::line_too_long);
    EXPECT_GE(in.buffered().size(), 32u);
    // A larger limit takes the same line whole: nothing was dropped.
    auto whole = co_await in.read_until(std::byte{'\n'}, 128);
    CO_ASSERT_OK(whole);
    EXPECT_EQ(text(*whole), longline + "\n");
    auto ok = co_await in.read_line(32);
    CO_ASSERT_OK(ok);
    EXPECT_EQ(*ok, "ok");
    // A limit beyond the buffer is the buffer's capacity.
    CO_ASSERT_OK(co_await p->left.write_all(bytes(std::string(200, 'y') + "\n")));
    auto capped = co_await in.read_line(10000);
    EXPECT_EQ(capped.error(), stream_error::line_too_long);
  }());
}

TEST_P(stream_test, read_exact_and_read_take_buffered_bytes_first) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    const auto body = pattern(100000);
    auto writer = spawn([](tcp_stream& s, const std::vector<std::byte>& body) -> task<> {
      if (!co_await s.write_all(bytes("len 100000\n"))) co_return;
      if (!co_await s.write_all(body)) co_return;
      if (!co_await s.write_all(bytes("tail"))) co_return;
      (void)s.shutdown_write();
    }(p->left, body));
    buffered_reader in(p->right, 4096);
    auto header = co_await in.read_line(64);
    CO_ASSERT_OK(header);
    EXPECT_EQ(*header, "len 100000");
    std::vector<std::byte> got(body.size());
    CO_ASSERT_OK(co_await in.read_exact(got));
    EXPECT_TRUE(got == body);
    std::array<std::byte, 16> rest;
    auto n = co_await in.read(rest);
    CO_ASSERT_OK(n);
    std::string tail = text(std::span(rest).first(*n));
    for (int i = 0; i < 8 && tail.size() < 4; ++i) {
      auto more = co_await in.read(rest);
      CO_ASSERT_OK(more);
      tail += text(std::span(rest).first(*more));
    }
    EXPECT_EQ(tail, "tail");
    auto eof = co_await in.read(rest);
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
    std::array<std::byte, 4> four;
    EXPECT_EQ((co_await in.read_exact(four)).error(), error::end_of_stream);
    co_await writer;
  }());
}

TEST_P(stream_test, a_cancelled_read_line_keeps_the_partial_line) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    CO_ASSERT_OK(co_await p->left.write_all(bytes("abc")));
    buffered_reader in(p->right);
    auto timed = co_await timeout(50ms, in.read_line(64));
    CO_ASSERT_TRUE(!timed);
    EXPECT_EQ(timed.error(), std::errc::timed_out);
    CO_ASSERT_OK(co_await p->left.write_all(bytes("def\n")));
    auto line = co_await in.read_line(64);
    CO_ASSERT_OK(line);
    EXPECT_EQ(*line, "abcdef");
  }());
}

TEST_P(stream_test, buffered_writer_gathers_small_writes_and_sends_large_ones_vectored) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    auto reader = spawn(read_all(p->right, 8u << 20));
    const auto big = pattern(1u << 20, 7);
    std::vector<std::byte> expected;
    auto add = [&](std::span<const std::byte> b) { expected.insert(expected.end(), b.begin(), b.end()); };
    {
      buffered_writer out(p->left, 64);
      CO_ASSERT_OK(co_await out.write("head "));
      add(bytes("head "));
      EXPECT_EQ(out.pending().size(), 5u);  // buffered, not sent
      CO_ASSERT_OK(co_await out.write(big));  // with the 5 buffered bytes in one writev
      add(big);
      EXPECT_EQ(out.pending().size(), 0u);
      // More parts than one sendmsg takes, some empty.
      std::vector<std::vector<std::byte>> parts;
      for (unsigned i = 0; i < 150; ++i) parts.push_back(pattern(i % 3 == 0 ? 0 : 100 * i, i));
      std::vector<std::span<const std::byte>> views(parts.begin(), parts.end());
      CO_ASSERT_OK(co_await out.write("mid"));
      add(bytes("mid"));
      CO_ASSERT_OK(co_await out.write_vectored(views));
      for (auto& v : parts) add(v);
      CO_ASSERT_OK(co_await out.write("end"));
      add(bytes("end"));
      CO_ASSERT_OK(co_await out.flush());
    }
    CO_ASSERT_OK(p->left.shutdown_write());
    auto got = co_await reader;
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected);
  }());
}

TEST_P(stream_test, write_all_vectored_resumes_inside_a_buffer_after_a_partial_write) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    auto reader = spawn(read_all(p->right, 16u << 20));
    const auto a = pattern(3u << 20, 1);
    const auto b = pattern(5, 2);
    const auto c = pattern(2u << 20, 3);
    const std::array<std::span<const std::byte>, 3> parts{a, b, c};
    CO_ASSERT_OK(co_await write_all_vectored(p->left, parts));
    CO_ASSERT_OK(p->left.shutdown_write());
    auto got = co_await reader;
    std::vector<std::byte> expected(a);
    expected.insert(expected.end(), b.begin(), b.end());
    expected.insert(expected.end(), c.begin(), c.end());
    EXPECT_TRUE(got == expected);
  }());
}

// client ⇄ (a | relay | b) ⇄ server
struct relay_fixture {
  stream_pair front;  // left: the client, right: the relay's a
  stream_pair back;   // left: the relay's b, right: the server
};

task<result<relay_fixture>> make_relay() {
  auto f = co_await make_stream_pair();
  if (!f) co_return f.error();
  auto b = co_await make_stream_pair();
  if (!b) co_return b.error();
  co_return relay_fixture{std::move(*f), std::move(*b)};
}

task<std::string> read_n(tcp_stream& s, std::size_t n) {
  std::string out(n, '\0');
  auto r = co_await s.read_exact(std::as_writable_bytes(std::span(out)));
  co_return r ? out : std::string("<error: " + r.error().message() + ">");
}

TEST_P(stream_test, copy_bidirectional_passes_half_close_both_ways) {
  run([]() -> task<> {
    auto f = co_await make_relay();
    CO_ASSERT_OK(f);
    tcp_stream& client = f->front.left;
    tcp_stream& server = f->back.right;
    auto relay = spawn(copy_bidirectional(f->front.right, f->back.left));
    CO_ASSERT_OK(co_await client.write_all(bytes("ping")));
    EXPECT_EQ(co_await read_n(server, 4), "ping");
    CO_ASSERT_OK(co_await server.write_all(bytes("pong")));
    EXPECT_EQ(co_await read_n(client, 4), "pong");
    CO_ASSERT_OK(client.shutdown_write());
    std::array<std::byte, 8> buf;
    auto eof = co_await server.read(buf);  // the client's FIN reached the server
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
    CO_ASSERT_OK(co_await server.write_all(bytes("late reply")));  // still open that way
    EXPECT_EQ(co_await read_n(client, 10), "late reply");
    EXPECT_FALSE(relay.is_finished());
    CO_ASSERT_OK(server.shutdown_write());
    auto eof2 = co_await client.read(buf);
    CO_ASSERT_OK(eof2);
    EXPECT_EQ(*eof2, 0u);
    auto counts = co_await relay;
    CO_ASSERT_OK(counts);
    EXPECT_EQ(counts->a_to_b, 4u);
    EXPECT_EQ(counts->b_to_a, 14u);
  }());
}

TEST_P(stream_test, copy_bidirectional_idle_timeout) {
  run([]() -> task<> {
    auto f = co_await make_relay();
    CO_ASSERT_OK(f);
    const auto start = std::chrono::steady_clock::now();
    auto relay = spawn(copy_bidirectional(f->front.right, f->back.left, {.idle_timeout = 100ms}));
    // Traffic keeps it alive past the timeout...
    for (int i = 0; i < 3; ++i) {
      (void)co_await sleep_for(60ms);
      CO_ASSERT_OK(co_await f->front.left.write_all(bytes("x")));
      EXPECT_EQ(co_await read_n(f->back.right, 1), "x");
    }
    EXPECT_FALSE(relay.is_finished());
    // ...and silence ends it.
    auto r = co_await relay;
    const auto took = std::chrono::steady_clock::now() - start;
    CO_ASSERT_TRUE(!r);
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_GE(took, 280ms);
    EXPECT_LT(took, 2s);
  }());
}

TEST_P(stream_test, copy_bidirectional_ends_both_ways_on_a_reset) {
  run([]() -> task<> {
    auto f = co_await make_relay();
    CO_ASSERT_OK(f);
    auto relay = spawn(copy_bidirectional(f->front.right, f->back.left));
    CO_ASSERT_OK(co_await f->front.left.write_all(bytes("x")));
    EXPECT_EQ(co_await read_n(f->back.right, 1), "x");
    // The client resets: SO_LINGER 0 turns close into RST.
    ::linger hard{1, 0};
    CO_ASSERT_TRUE(::setsockopt(f->front.left.raw().native_handle(), SOL_SOCKET, SO_LINGER,
                                &hard, sizeof hard) == 0);
    f->front.left.close();
    // The server side is idle: only the relay's reaction can end the other direction.
    auto r = co_await timeout(2s, std::move(relay));
    CO_ASSERT_TRUE(!r);
    EXPECT_NE(r.error(), std::errc::timed_out) << "the relay did not notice the reset";
  }());
}

TEST_P(stream_test, copy_bidirectional_is_cancellable) {
  run([]() -> task<> {
    auto f = co_await make_relay();
    CO_ASSERT_OK(f);
    auto relay = spawn(copy_bidirectional(f->front.right, f->back.left));
    co_await yield();
    relay.request_stop();
    CO_ASSERT_TRUE(co_await finishes_within(relay));
    auto r = co_await relay;
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
  }());
}

TEST_P(stream_test, split_halves_read_and_write_from_two_tasks) {
  run([]() -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    // The far side echoes.
    auto echo = spawn([](tcp_stream& s) -> task<> {
      std::array<std::byte, 4096> buf;
      for (;;) {
        auto n = co_await s.read(buf);
        if (!n || *n == 0) break;
        if (!co_await s.write_all(std::span(buf).first(*n))) break;
      }
      (void)s.shutdown_write();
    }(p->right));
    auto [rx, tx] = split(p->left);
    const auto data = pattern(2u << 20, 9);
    auto writer = spawn([](write_half<tcp_stream> tx, const std::vector<std::byte>& data) -> task<> {
      for (std::size_t at = 0; at < data.size(); at += 65536) {
        const auto chunk = std::span(data).subspan(at, std::min<std::size_t>(65536, data.size() - at));
        if (!co_await tx.write_all(chunk)) co_return;
      }
      (void)tx.shutdown_write();
    }(tx, data));
    auto reader = spawn([](read_half<tcp_stream> rx, std::size_t limit) -> task<std::vector<std::byte>> {
      std::vector<std::byte> got;
      std::array<std::byte, 8192> buf;
      while (got.size() <= limit) {
        auto n = co_await rx.read(buf);
        if (!n || *n == 0) break;
        got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
      }
      co_return got;
    }(rx, data.size()));
    co_await writer;
    auto got = co_await reader;
    co_await echo;
    EXPECT_TRUE(got == data);
  }());
}

CORIO_INSTANTIATE_BACKENDS(stream_test);

}  // namespace
}  // namespace corio::test
