// What a network service meets in production: a peer that resets mid-write (an error, never
// SIGPIPE, which this binary deliberately leaves at its default action), a half-closed stream,
// a client that never reads (the writer suspends, kernel buffering plateaus, cancelling works),
// and a full fd table (accept reports EMFILE without spinning, then recovers).
#include <corio/tcp.hpp>

#include <gtest/gtest.h>

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "net/support.hpp"
#include "support/fd_table.hpp"
#include "support/loopback_pair.hpp"

namespace {

using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using corio::net::socket_address;
using corio::test::bytes;
using corio::test::fd_table_filler;
using corio::test::loopback_pair;
using corio::test::finishes_within;
using corio::test::text;

class robustness : public corio::test::backend_test {};

socket_address loopback_v4() { return socket_address(corio::net::ip_address::loopback_v4(), 0); }

task<> write_everything(tcp_stream& s, std::span<const std::byte> data,
                        corio::result<void>& out) {
  out = co_await s.write_all(data);
}

TEST_P(robustness, peer_reset_mid_write_is_an_error_not_sigpipe) {
  run([]() -> task<> {
    auto c = co_await loopback_pair();
    CO_ASSERT_OK(c);
    const std::vector<std::byte> big(16 << 20);
    corio::result<void> outcome;
    auto writer = corio::spawn(write_everything(c->client, big, outcome));
    co_await corio::yield();
    CO_ASSERT_TRUE(!writer.is_finished());  // suspended on a full socket buffer
    // Linger 0 turns close into a reset.
    const ::linger reset{1, 0};
    CO_ASSERT_TRUE(::setsockopt(c->server.raw().native_handle(), SOL_SOCKET, SO_LINGER, &reset,
                                sizeof reset) == 0);
    c->server.close();
    CO_ASSERT_TRUE(co_await finishes_within(writer));
    CO_ASSERT_TRUE(!outcome);
    EXPECT_TRUE(outcome.error() == std::errc::connection_reset ||
                outcome.error() == std::errc::broken_pipe)
        << outcome.error().message();
    auto again = co_await c->client.write(bytes("more"));
    EXPECT_FALSE(again);
  }());
}

TEST_P(robustness, half_closed_peer_still_gets_the_reply) {
  run([]() -> task<> {
    auto c = co_await loopback_pair();
    CO_ASSERT_OK(c);
    CO_ASSERT_OK(co_await c->client.write_all(bytes("ping")));
    CO_ASSERT_OK(c->client.shutdown_write());
    std::array<std::byte, 16> buf{};
    std::string request;
    for (;;) {  // read to end of stream
      auto n = co_await c->server.read(buf);
      CO_ASSERT_OK(n);
      if (*n == 0) break;
      request += text(std::span(buf).first(*n));
    }
    EXPECT_EQ(request, "ping");
    CO_ASSERT_OK(co_await c->server.write_all(bytes("pong")));
    c->server.close();
    std::array<std::byte, 4> reply{};
    CO_ASSERT_OK(co_await c->client.read_exact(reply));
    EXPECT_EQ(text(reply), "pong");
    auto eof = co_await c->client.read(buf);
    CO_ASSERT_OK(eof);
    EXPECT_EQ(*eof, 0u);
  }());
}

// Bytes the kernel holds for this connection: unsent in the writer, unread in the reader.
std::size_t queued(tcp_stream& writer, tcp_stream& reader) {
  int unsent = 0;
  int unread = 0;
  EXPECT_EQ(::ioctl(writer.raw().native_handle(), SIOCOUTQ, &unsent), 0);
  EXPECT_EQ(::ioctl(reader.raw().native_handle(), SIOCINQ, &unread), 0);
  return static_cast<std::size_t>(unsent) + static_cast<std::size_t>(unread);
}

TEST_P(robustness, writer_to_a_client_that_never_reads_suspends_and_can_be_cancelled) {
  run([]() -> task<> {
    auto c = co_await loopback_pair();
    CO_ASSERT_OK(c);
    // Fixed buffer sizes turn autotuning off, so the bound below does not depend on sysctls.
    const int buf_size = 64 << 10;
    CO_ASSERT_TRUE(::setsockopt(c->server.raw().native_handle(), SOL_SOCKET, SO_SNDBUF,
                                &buf_size, sizeof buf_size) == 0);
    CO_ASSERT_TRUE(::setsockopt(c->client.raw().native_handle(), SOL_SOCKET, SO_RCVBUF,
                                &buf_size, sizeof buf_size) == 0);
    const std::vector<std::byte> huge(16 << 20);
    corio::result<void> outcome;
    auto writer = corio::spawn(write_everything(c->server, huge, outcome));
    // A completion backend hands the write to the kernel with the loop's next wait: a few turns.
    std::size_t first = 0;
    for (int turn = 0; turn < 100 && first == 0; ++turn) {
      co_await corio::yield();
      first = queued(c->server, c->client);
    }
    CO_ASSERT_TRUE(first > 0);
    std::size_t most = first;
    for (int turn = 0; turn < 200; ++turn) {  // bounded: loop turns, not time
      co_await corio::yield();
      EXPECT_FALSE(writer.is_finished());
      most = std::max(most, queued(c->server, c->client));
    }
    // The kernel holds about its two buffers' worth (it doubles what SO_*BUF asked for), far
    // below what write_all was given: it waits for the reader instead of buffering the rest.
    EXPECT_LT(most, std::size_t{1} << 20) << "first " << first;
    writer.request_stop();
    CO_ASSERT_TRUE(co_await finishes_within(writer));
    EXPECT_EQ(outcome.error(), std::errc::operation_canceled);
  }());
}

TEST_P(robustness, accept_reports_emfile_without_spinning_then_recovers) {
  run([]() -> task<> {
    // The listener's own raw socket and registration, so the test can count accept syscalls.
    auto raw = corio::net::tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(raw);
    auto reg = corio::detail::io_registration::open(raw->native_handle());
    CO_ASSERT_OK(reg);
    int attempts = 0;
    auto counted_accept = [&] {
      return corio::detail::io_awaiter(*reg, corio::detail::reading, [&] {
        ++attempts;
        return raw->accept();
      });
    };
    corio::result<std::pair<corio::net::tcp_stream, socket_address>> outcome =
        std::make_error_code(std::errc::interrupted);
    auto body = [&]() -> task<> { outcome = co_await counted_accept(); };  // outlives the task
    auto acceptor = corio::spawn(body());
    co_await corio::yield();
    CO_ASSERT_TRUE(!acceptor.is_finished());
    EXPECT_EQ(attempts, 1);  // tried once, would block, waits

    auto client = corio::net::tcp_stream::connect(*raw->local_address());
    CO_ASSERT_OK(client);  // made before the table fills: it needs an fd of its own
    {
      fd_table_filler full;
      CO_ASSERT_TRUE(full.ok());
      CO_ASSERT_TRUE(co_await finishes_within(acceptor));
      CO_ASSERT_TRUE(!outcome);
      EXPECT_EQ(outcome.error(), std::errc::too_many_files_open) << outcome.error().message();
      EXPECT_EQ(attempts, 2);  // one retry on readiness, then the error is reported
      for (int turn = 0; turn < 50; ++turn) co_await corio::yield();
      EXPECT_EQ(attempts, 2);  // and nothing retries behind the caller's back

      auto direct = co_await counted_accept();  // each co_await is one attempt
      EXPECT_EQ(direct.error(), std::errc::too_many_files_open);
      EXPECT_EQ(attempts, 3);
    }
    // Fds are free again: the connection that waited in the backlog is accepted.
    auto accepted = co_await counted_accept();
    CO_ASSERT_OK(accepted);
    EXPECT_EQ(accepted->second, *client->local_address());
    EXPECT_EQ(attempts, 4);
  }());
}

TEST_P(robustness, listener_accepts_the_connection_that_waited_through_emfile) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback_v4());
    CO_ASSERT_OK(listener);
    auto client = corio::net::tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(client);
    {
      fd_table_filler full;
      CO_ASSERT_TRUE(full.ok());
      auto r = co_await listener->accept();
      EXPECT_EQ(r.error(), std::errc::too_many_files_open);
    }
    auto r = co_await listener->accept();
    CO_ASSERT_OK(r);
    EXPECT_EQ(r->second, *client->local_address());
  }());
}

CORIO_INSTANTIATE_BACKENDS(robustness);

}  // namespace
