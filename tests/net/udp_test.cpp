// corio::udp_socket: empty and largest IPv4 datagrams, waiting for a datagram, connected
// sockets, and a cancelled recv that leaves the datagram queued.
#include <corio/udp.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/support.hpp"

namespace {

using corio::task;
using corio::udp_socket;
using corio::net::socket_address;
using corio::test::bytes;
using corio::test::finishes_within;
using corio::test::text;

class udp : public corio::test::backend_test {};

socket_address loopback_v4() { return socket_address(corio::net::ip_address::loopback_v4(), 0); }

task<> round_trip(std::size_t size) {
  auto a = udp_socket::bind(loopback_v4());
  CO_ASSERT_OK(a);
  auto b = udp_socket::bind(loopback_v4());
  CO_ASSERT_OK(b);
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = std::byte(static_cast<std::uint8_t>(i * 7));
  auto sent = co_await a->send_to(out, *b->local_address());
  CO_ASSERT_OK(sent);
  EXPECT_EQ(*sent, size);
  std::vector<std::byte> in(65536);
  auto got = co_await b->recv_from(in);
  CO_ASSERT_OK(got);
  EXPECT_EQ(got->first, size);
  EXPECT_EQ(got->second, *a->local_address());
  in.resize(got->first);
  EXPECT_TRUE(in == out);
}

TEST_P(udp, zero_byte_datagram_round_trips) { run(round_trip(0)); }

TEST_P(udp, largest_ipv4_datagram_round_trips) { run(round_trip(65'507)); }

task<> receive_one(udp_socket& s, std::string& got) {
  std::array<std::byte, 64> buf{};
  auto r = co_await s.recv(buf);
  CO_ASSERT_OK(r);
  got = text(std::span(buf).first(*r));
}

TEST_P(udp, connected_recv_waits_for_the_peer_datagram) {
  run([]() -> task<> {
    auto a = udp_socket::bind(loopback_v4());
    CO_ASSERT_OK(a);
    auto b = udp_socket::bind(loopback_v4());
    CO_ASSERT_OK(b);
    CO_ASSERT_OK(a->connect(*b->local_address()));
    CO_ASSERT_OK(b->connect(*a->local_address()));
    std::string got;
    auto receiver = corio::spawn(receive_one(*b, got));
    co_await corio::yield();
    EXPECT_FALSE(receiver.is_finished());  // suspended: nothing was sent yet
    CO_ASSERT_OK(co_await a->send(bytes("ping")));
    co_await receiver;
    EXPECT_EQ(got, "ping");
  }());
}

// Cancelled (the datagram stays queued: readiness backends always) or, on io_uring, completed
// by the kernel before the cancel reached it (the datagram is delivered). Never lost.
task<std::string> recv_or_cancel(udp_socket& s) {
  std::array<std::byte, 64> buf{};
  auto r = co_await s.recv_from(buf);
  if (!r) {
    EXPECT_EQ(r.error(), std::errc::operation_canceled);
    co_return std::string();
  }
  co_return text(std::span(buf).first(r->first));
}

TEST_P(udp, stop_cancels_a_pending_recv_and_the_datagram_is_not_lost) {
  run([kind = GetParam()]() -> task<> {
    auto a = udp_socket::bind(loopback_v4());
    CO_ASSERT_OK(a);
    auto b = udp_socket::bind(loopback_v4());
    CO_ASSERT_OK(b);
    auto receiver = corio::spawn(recv_or_cancel(*b));
    co_await corio::yield();
    EXPECT_FALSE(receiver.is_finished());
    CO_ASSERT_OK(co_await a->send_to(bytes("queued"), *b->local_address()));
    receiver.request_stop();
    CO_ASSERT_TRUE(co_await finishes_within(receiver));
    std::string got = co_await receiver;
    if (kind == corio::backend_kind::epoll) {
      EXPECT_EQ(got, "");
    }
    if (got.empty()) {
      std::array<std::byte, 64> buf{};
      auto r = co_await b->recv_from(buf);
      CO_ASSERT_OK(r);
      got = text(std::span(buf).first(r->first));
    }
    EXPECT_EQ(got, "queued");
  }());
}

CORIO_INSTANTIATE_BACKENDS(udp);

}  // namespace
