// Readiness of every corio socket kind through corio::poll, run once per built backend.
// Waiting is poll::wait with a bounded timeout; "no event" is checked with a short wait that
// must come back empty (events are not expected to be late on loopback).
#include <corio/net/tcp.hpp>
#include <corio/net/udp.hpp>
#include <corio/net/unix.hpp>
#include <corio/reactor.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;
using namespace corio::net;

constexpr corio::token tok{42};

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

class socket_readiness : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  void SetUp() override {
    auto p = corio::poll::create(GetParam());
    if (!p && p.error() == corio::error::backend_unavailable)
      GTEST_SKIP() << "kernel refuses " << corio::to_string(GetParam());
    ASSERT_TRUE(p) << p.error().message();
    poll_.emplace(std::move(*p));
  }

  void add(int fd, corio::interest i) { ASSERT_TRUE(poll_->registry().add(fd, tok, i)); }

  // Union of the flags of `tok` events, waiting until `want` flags are all seen or 5 s pass.
  std::uint8_t wait_for(std::uint8_t want) {
    std::uint8_t seen = 0;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((seen & want) != want && std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(poll_->wait(events_, 100ms));
      for (const auto& e : events_)
        if (e.token() == tok) seen |= e.flags();
    }
    return seen;
  }

  // True when a short wait reports no event for `tok`.
  bool quiet() {
    EXPECT_TRUE(poll_->wait(events_, 50ms));
    for (const auto& e : events_)
      if (e.token() == tok) return false;
    return true;
  }

  std::optional<corio::poll> poll_;
  corio::events events_{64};
};

struct tcp_trio {
  tcp_listener listener;
  tcp_stream client;
  tcp_stream server;
};

// A listener and a client connecting to it; each test accepts the server end once the
// listener's readiness says the connection is there.
tcp_trio tcp_connected() {
  tcp_trio t;
  t.listener = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
  t.client = tcp_stream::connect(t.listener.local_address().value()).value();
  return t;
}

template <class Stream>
void drain(Stream& s) {
  std::byte buf[4096];
  for (;;) {
    auto r = s.read(buf);
    if (!r || *r == 0) return;
  }
}

TEST_P(socket_readiness, tcp_listener_is_readable_with_a_pending_connection) {
  auto l = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
  add(l.native_handle(), corio::interest::readable);
  EXPECT_TRUE(quiet());
  auto c = tcp_stream::connect(l.local_address().value()).value();
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
  EXPECT_TRUE(l.accept());
}

TEST_P(socket_readiness, tcp_stream_is_writable_once_connected) {
  auto l = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
  auto c = tcp_stream::connect(l.local_address().value()).value();
  add(c.native_handle(), corio::interest::readable | corio::interest::writable);
  EXPECT_TRUE(wait_for(corio::event::writable) & corio::event::writable);
  EXPECT_FALSE(c.take_error());
}

TEST_P(socket_readiness, tcp_connect_to_a_closed_port_reports_an_error) {
  socket_address closed;
  {
    auto l = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
    closed = l.local_address().value();
  }
  auto c = tcp_stream::connect(closed);
  if (!c) GTEST_SKIP() << "connect failed synchronously: " << c.error().message();
  add(c->native_handle(), corio::interest::readable | corio::interest::writable);
  const auto seen = wait_for(corio::event::writable);
  EXPECT_TRUE(seen & (corio::event::error | corio::event::write_closed | corio::event::writable));
  EXPECT_EQ(c->take_error(), std::errc::connection_refused);
}

TEST_P(socket_readiness, tcp_stream_is_readable_on_data) {
  auto t = tcp_connected();
  add(t.listener.native_handle(), corio::interest::readable);
  ASSERT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
  t.server = std::move(t.listener.accept().value().first);
  ASSERT_TRUE(poll_->registry().remove(t.listener.native_handle()));
  add(t.server.native_handle(), corio::interest::readable);
  EXPECT_TRUE(quiet());
  ASSERT_TRUE(t.client.write(bytes("data")));
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
}

TEST_P(socket_readiness, tcp_stream_reports_read_closed_on_peer_shutdown) {
  auto t = tcp_connected();
  add(t.listener.native_handle(), corio::interest::readable);
  ASSERT_TRUE(wait_for(corio::event::readable));
  t.server = std::move(t.listener.accept().value().first);
  ASSERT_TRUE(poll_->registry().remove(t.listener.native_handle()));
  add(t.server.native_handle(), corio::interest::readable);
  ASSERT_TRUE(t.client.shutdown(shutdown_how::write));
  EXPECT_TRUE(wait_for(corio::event::read_closed) & corio::event::read_closed);
  std::byte b[4];
  EXPECT_EQ(t.server.read(b).value(), 0u);
}

TEST_P(socket_readiness, udp_socket_is_readable_on_a_datagram) {
  const socket_address any_port(ip_address::loopback_v4(), 0);
  auto rx = udp_socket::bind(any_port).value();
  auto tx = udp_socket::bind(any_port).value();
  add(rx.native_handle(), corio::interest::readable);
  EXPECT_TRUE(quiet());
  ASSERT_TRUE(tx.send_to({}, rx.local_address().value()));  // even an empty datagram counts
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
}

TEST_P(socket_readiness, unix_stream_is_readable_on_data) {
  auto [a, b] = unix_stream::pair().value();
  add(b.native_handle(), corio::interest::readable);
  EXPECT_TRUE(quiet());
  ASSERT_TRUE(a.write(bytes("u")));
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
}

TEST_P(socket_readiness, unix_listener_is_readable_with_a_pending_connection) {
  const auto at =
      socket_address::unix_abstract("corio-ready-" + std::to_string(::getpid())).value();
  auto l = unix_listener::bind(at).value();
  add(l.native_handle(), corio::interest::readable);
  auto c = unix_stream::connect(at).value();
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
  EXPECT_TRUE(l.accept());
}

TEST_P(socket_readiness, unix_datagram_is_readable_on_a_datagram) {
  auto [a, b] = unix_datagram::pair().value();
  add(b.native_handle(), corio::interest::readable);
  EXPECT_TRUE(quiet());
  ASSERT_TRUE(a.send(bytes("d")));
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
}

TEST_P(socket_readiness, no_new_event_until_new_data_arrives) {
  auto [a, b] = unix_stream::pair().value();
  add(b.native_handle(), corio::interest::readable);
  ASSERT_TRUE(a.write(bytes("once")));
  ASSERT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
  // Edge-triggered: the unread data does not produce another event.
  EXPECT_TRUE(quiet());
  ASSERT_TRUE(a.write(bytes("more")));
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
}

TEST_P(socket_readiness, draining_to_would_block_then_new_data_gives_a_new_event) {
  auto t = tcp_connected();
  add(t.listener.native_handle(), corio::interest::readable);
  ASSERT_TRUE(wait_for(corio::event::readable));
  t.server = std::move(t.listener.accept().value().first);
  ASSERT_TRUE(poll_->registry().remove(t.listener.native_handle()));
  add(t.server.native_handle(), corio::interest::readable);
  ASSERT_TRUE(t.client.write(bytes("first")));
  ASSERT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
  drain(t.server);
  std::byte b[8];
  auto empty = t.server.read(b);
  ASSERT_FALSE(empty);
  EXPECT_TRUE(corio::would_block(empty.error()));
  EXPECT_TRUE(quiet());
  ASSERT_TRUE(t.client.write(bytes("second")));
  EXPECT_TRUE(wait_for(corio::event::readable) & corio::event::readable);
  EXPECT_EQ(t.server.read(b).value(), 6u);
}

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(backends, socket_readiness,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
