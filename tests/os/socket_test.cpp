// Non-blocking sockets over loopback. Waiting is a bounded poll(2) on the fd, never a sleep.
#include <corio/net/tcp.hpp>
#include <corio/net/udp.hpp>
#include <corio/net/unix.hpp>
#include <corio/unique_fd.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "os/sys.hpp"

namespace {

using namespace corio::net;
using corio::unique_fd;

constexpr int wait_ms = 5000;

bool wait_for(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, wait_ms) == 1;
}
bool wait_readable(int fd) { return wait_for(fd, POLLIN); }
bool wait_writable(int fd) { return wait_for(fd, POLLOUT); }

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }
std::string text(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

bool is_nonblocking_and_cloexec(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

// Reads exactly `n` bytes, waiting for readiness whenever the stream would block.
template <class Stream>
std::string read_exactly(Stream& s, std::size_t n) {
  std::string out;
  std::vector<std::byte> buf(n);
  while (out.size() < n) {
    auto r = s.read(std::span(buf).first(n - out.size()));
    if (!r && corio::would_block(r.error())) {
      if (!wait_readable(s.native_handle())) break;
      continue;
    }
    if (!r || *r == 0) break;
    out += text(std::span(buf).first(*r));
  }
  return out;
}

// Reads once the fd is readable; -1 on error.
template <class Stream>
long read_once(Stream& s) {
  std::byte b[64];
  if (!wait_readable(s.native_handle())) return -1;
  auto r = s.read(b);
  return r ? static_cast<long>(*r) : -1;
}

struct connected_tcp {
  tcp_listener listener;
  tcp_stream client;
  tcp_stream server;
};

// listener on `ip`:0, a client connected to it, and the accepted server end.
connected_tcp connect_pair(ip_address ip) {
  connected_tcp c;
  c.listener = tcp_listener::bind(socket_address(ip, 0)).value();
  c.client = tcp_stream::connect(c.listener.local_address().value()).value();
  EXPECT_TRUE(wait_readable(c.listener.native_handle()));
  auto accepted = c.listener.accept();
  EXPECT_TRUE(accepted) << accepted.error().message();
  if (accepted) c.server = std::move(accepted->first);
  EXPECT_TRUE(wait_writable(c.client.native_handle()));
  EXPECT_FALSE(c.client.take_error());
  return c;
}

bool have_ipv6_loopback() {
  return static_cast<bool>(tcp_listener::bind(socket_address(ip_address::loopback_v6(), 0)));
}

// A fresh directory for filesystem sockets, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "corio-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// --- unique_fd ---------------------------------------------------------------------------------

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(unique_fd, default_owns_nothing) {
  unique_fd fd;
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
}

TEST(unique_fd, destructor_closes) {
  int raw = -1;
  {
    unique_fd fd(::dup(0));
    raw = fd.get();
    ASSERT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(unique_fd, move_transfers_ownership) {
  unique_fd a(::dup(0));
  const int raw = a.get();
  unique_fd b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), raw);
  unique_fd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(unique_fd, move_assignment_closes_the_previous_fd) {
  unique_fd a(::dup(0));
  unique_fd b(::dup(0));
  const int old = a.get();
  a = std::move(b);
  EXPECT_FALSE(is_open(old));
  EXPECT_TRUE(is_open(a.get()));
}

TEST(unique_fd, release_gives_up_without_closing) {
  unique_fd a(::dup(0));
  const int raw = a.release();
  EXPECT_FALSE(a);
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(unique_fd, reset_closes_old_and_adopts_new) {
  unique_fd a(::dup(0));
  const int old = a.get();
  const int fresh = ::dup(0);
  a.reset(fresh);
  EXPECT_FALSE(is_open(old));
  EXPECT_EQ(a.get(), fresh);
  a.reset(fresh);  // same fd: must not close it
  EXPECT_TRUE(is_open(fresh));
  a.reset();
  EXPECT_FALSE(is_open(fresh));
  EXPECT_FALSE(a);
}

// --- the EINTR seam ----------------------------------------------------------------------------

TEST(sys, retry_eintr_repeats_until_another_outcome) {
  int calls = 0;
  const int r = corio::sys::retry_eintr([&] {
    if (++calls < 3) {
      errno = EINTR;
      return -1;
    }
    return 7;
  });
  EXPECT_EQ(r, 7);
  EXPECT_EQ(calls, 3);
}

TEST(sys, retry_eintr_returns_other_errors_at_once) {
  int calls = 0;
  const int r = corio::sys::retry_eintr([&] {
    ++calls;
    errno = EAGAIN;
    return -1;
  });
  EXPECT_EQ(r, -1);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(corio::would_block(corio::last_errno()));
}

// --- TCP ---------------------------------------------------------------------------------------

TEST(tcp, ephemeral_port_is_reported_by_local_address) {
  auto l = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0));
  ASSERT_TRUE(l) << l.error().message();
  auto at = l->local_address().value();
  EXPECT_EQ(at.ip(), ip_address::loopback_v4());
  EXPECT_NE(at.port(), 0);
}

TEST(tcp, accept_would_block_when_nothing_is_pending) {
  auto l = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
  auto r = l.accept();
  ASSERT_FALSE(r);
  EXPECT_TRUE(corio::would_block(r.error())) << r.error().message();
}

TEST(tcp, read_would_block_when_no_data) {
  auto c = connect_pair(ip_address::loopback_v4());
  std::byte b[8];
  auto r = c.server.read(b);
  ASSERT_FALSE(r);
  EXPECT_TRUE(corio::would_block(r.error()));
}

TEST(tcp, connect_accept_and_exchange_over_v4) {
  auto c = connect_pair(ip_address::loopback_v4());
  EXPECT_EQ(c.client.write(bytes("ping")).value(), 4u);
  EXPECT_EQ(read_exactly(c.server, 4), "ping");
  EXPECT_EQ(c.server.write(bytes("pong")).value(), 4u);
  EXPECT_EQ(read_exactly(c.client, 4), "pong");
  EXPECT_EQ(c.client.peer_address().value(), c.listener.local_address().value());
  EXPECT_EQ(c.server.peer_address().value(), c.client.local_address().value());
}

TEST(tcp, connect_accept_and_exchange_over_v6) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this host";
  auto c = connect_pair(ip_address::loopback_v6());
  EXPECT_EQ(c.client.write(bytes("v6")).value(), 2u);
  EXPECT_EQ(read_exactly(c.server, 2), "v6");
  EXPECT_EQ(c.client.local_address().value().family(), address_family::ipv6);
}

TEST(tcp, writev_sends_buffers_in_order) {
  auto c = connect_pair(ip_address::loopback_v4());
  const std::span<const std::byte> parts[] = {bytes("head"), bytes(""), bytes("-"), bytes("tail")};
  EXPECT_EQ(c.client.writev(parts).value(), 9u);
  EXPECT_EQ(read_exactly(c.server, 9), "head-tail");
}

TEST(tcp, close_of_peer_reads_as_zero) {
  auto c = connect_pair(ip_address::loopback_v4());
  c.client.close();
  EXPECT_EQ(read_once(c.server), 0);
}

TEST(tcp, half_close_lets_the_other_direction_continue) {
  auto c = connect_pair(ip_address::loopback_v4());
  ASSERT_TRUE(c.client.shutdown(shutdown_how::write));
  EXPECT_EQ(read_once(c.server), 0);
  EXPECT_EQ(c.server.write(bytes("still here")).value(), 10u);
  EXPECT_EQ(read_exactly(c.client, 10), "still here");
}

TEST(tcp, write_to_reset_peer_is_an_error_and_raises_no_sigpipe) {
  auto c = connect_pair(ip_address::loopback_v4());
  // SO_LINGER 0 turns close into a reset.
  const linger hard{1, 0};
  ASSERT_EQ(::setsockopt(c.server.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
  c.server.close();
  std::error_code ec;
  // The first write may land before the RST is processed; a later one must fail. Without
  // MSG_NOSIGNAL the failing write would kill this process with SIGPIPE.
  for (int i = 0; i < 100 && !ec; ++i) {
    auto r = c.client.write(bytes("x"));
    if (r) continue;
    if (corio::would_block(r.error())) {
      ASSERT_TRUE(wait_writable(c.client.native_handle()));
      continue;
    }
    ec = r.error();
  }
  EXPECT_TRUE(ec == std::errc::connection_reset || ec == std::errc::broken_pipe) << ec.message();
  auto again = c.client.write(bytes("x"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), std::errc::broken_pipe);
}

TEST(tcp, connect_to_closed_port_reports_refused_through_take_error) {
  socket_address closed;
  {
    auto l = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
    closed = l.local_address().value();
  }
  auto s = tcp_stream::connect(closed);
  if (!s) {
    EXPECT_EQ(s.error(), std::errc::connection_refused);
    return;
  }
  ASSERT_TRUE(wait_writable(s->native_handle()));
  EXPECT_EQ(s->take_error(), std::errc::connection_refused);
  EXPECT_FALSE(s->take_error());  // reading SO_ERROR clears it
}

TEST(tcp, nodelay_round_trips) {
  auto c = connect_pair(ip_address::loopback_v4());
  ASSERT_TRUE(c.client.set_nodelay(true));
  EXPECT_TRUE(c.client.nodelay().value());
  ASSERT_TRUE(c.client.set_nodelay(false));
  EXPECT_FALSE(c.client.nodelay().value());
}

TEST(tcp, every_fd_is_nonblocking_and_cloexec) {
  auto c = connect_pair(ip_address::loopback_v4());
  EXPECT_TRUE(is_nonblocking_and_cloexec(c.listener.native_handle()));
  EXPECT_TRUE(is_nonblocking_and_cloexec(c.client.native_handle()));
  EXPECT_TRUE(is_nonblocking_and_cloexec(c.server.native_handle()));
}

TEST(tcp, bind_to_a_used_port_fails_with_address_in_use) {
  auto a = tcp_listener::bind(socket_address(ip_address::loopback_v4(), 0)).value();
  auto b = tcp_listener::bind(a.local_address().value());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::errc::address_in_use);
}

TEST(tcp, v6_listener_is_v6_only) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this host";
  auto v6 = tcp_listener::bind(socket_address(ip_address::any_v6(), 0)).value();
  const auto port = v6.local_address().value().port();
  // With IPV6_V6ONLY the v4 wildcard on the same port is still free.
  EXPECT_TRUE(tcp_listener::bind(socket_address(ip_address::any_v4(), port)));
}

// --- UDP ---------------------------------------------------------------------------------------

struct udp_pair {
  udp_socket a;
  udp_socket b;
};

udp_pair bind_udp_pair() {
  const socket_address any_port(ip_address::loopback_v4(), 0);
  return {udp_socket::bind(any_port).value(), udp_socket::bind(any_port).value()};
}

TEST(udp, send_to_and_recv_from_carry_the_sender_address) {
  auto p = bind_udp_pair();
  const auto to = p.b.local_address().value();
  EXPECT_EQ(p.a.send_to(bytes("hello"), to).value(), 5u);
  ASSERT_TRUE(wait_readable(p.b.native_handle()));
  std::byte buf[16];
  auto r = p.b.recv_from(buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(text(std::span(buf).first(r->first)), "hello");
  EXPECT_EQ(r->second, p.a.local_address().value());
}

TEST(udp, zero_length_datagram_is_received_as_zero) {
  auto p = bind_udp_pair();
  EXPECT_EQ(p.a.send_to({}, p.b.local_address().value()).value(), 0u);
  ASSERT_TRUE(wait_readable(p.b.native_handle()));
  std::byte buf[4];
  auto r = p.b.recv_from(buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  // Nothing else is queued: a zero-length datagram is not EOF.
  auto empty = p.b.recv_from(buf);
  ASSERT_FALSE(empty);
  EXPECT_TRUE(corio::would_block(empty.error()));
}

TEST(udp, largest_v4_datagram_arrives_whole) {
  auto p = bind_udp_pair();
  std::vector<std::byte> out(65507);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i * 7);
  ASSERT_EQ(p.a.send_to(out, p.b.local_address().value()).value(), out.size());
  ASSERT_TRUE(wait_readable(p.b.native_handle()));
  std::vector<std::byte> in(70000);
  auto r = p.b.recv_from(in);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->first, out.size());
  EXPECT_EQ(std::memcmp(in.data(), out.data(), out.size()), 0);
  // One byte more does not fit in IPv4 UDP.
  std::vector<std::byte> too_big(65508);
  auto over = p.a.send_to(too_big, p.b.local_address().value());
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), std::errc::message_size);
}

TEST(udp, connected_socket_uses_send_and_recv) {
  auto p = bind_udp_pair();
  ASSERT_TRUE(p.a.connect(p.b.local_address().value()));
  ASSERT_TRUE(p.b.connect(p.a.local_address().value()));
  EXPECT_EQ(p.a.peer_address().value(), p.b.local_address().value());
  EXPECT_EQ(p.a.send(bytes("hi")).value(), 2u);
  ASSERT_TRUE(wait_readable(p.b.native_handle()));
  std::byte buf[8];
  EXPECT_EQ(p.b.recv(buf).value(), 2u);
  EXPECT_TRUE(is_nonblocking_and_cloexec(p.a.native_handle()));
}

TEST(udp, recv_would_block_when_empty) {
  auto p = bind_udp_pair();
  std::byte buf[8];
  auto r = p.a.recv(buf);
  ASSERT_FALSE(r);
  EXPECT_TRUE(corio::would_block(r.error()));
}

// --- unix --------------------------------------------------------------------------------------

void exchange_over_unix_stream(const socket_address& at) {
  auto l = unix_listener::bind(at);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->local_address().value(), at);
  auto client = unix_stream::connect(at);
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_TRUE(wait_readable(l->native_handle()));
  auto accepted = l->accept();
  ASSERT_TRUE(accepted) << accepted.error().message();
  auto& server = accepted->first;
  EXPECT_TRUE(accepted->second.is_unnamed_unix());
  EXPECT_EQ(client->write(bytes("unix")).value(), 4u);
  EXPECT_EQ(read_exactly(server, 4), "unix");
  ASSERT_TRUE(client->shutdown(shutdown_how::write));
  EXPECT_EQ(read_once(server), 0);
  EXPECT_EQ(server.write(bytes("back")).value(), 4u);
  EXPECT_EQ(read_exactly(*client, 4), "back");
  EXPECT_TRUE(is_nonblocking_and_cloexec(l->native_handle()));
  EXPECT_TRUE(is_nonblocking_and_cloexec(client->native_handle()));
  EXPECT_TRUE(is_nonblocking_and_cloexec(server.native_handle()));
}

TEST(unix_stream, listener_connect_accept_over_a_path) {
  temp_dir dir;
  exchange_over_unix_stream(socket_address::unix_path(dir.file("s.sock")).value());
}

TEST(unix_stream, listener_connect_accept_over_an_abstract_name) {
  exchange_over_unix_stream(
      socket_address::unix_abstract("corio-test-" + std::to_string(::getpid())).value());
}

TEST(unix_stream, pair_is_connected_both_ways) {
  auto p = unix_stream::pair();
  ASSERT_TRUE(p);
  auto& [a, b] = *p;
  EXPECT_EQ(a.write(bytes("ab")).value(), 2u);
  EXPECT_EQ(read_exactly(b, 2), "ab");
  EXPECT_EQ(b.write(bytes("ba")).value(), 2u);
  EXPECT_EQ(read_exactly(a, 2), "ba");
  EXPECT_TRUE(a.local_address().value().is_unnamed_unix());
  EXPECT_TRUE(is_nonblocking_and_cloexec(a.native_handle()));
  EXPECT_TRUE(is_nonblocking_and_cloexec(b.native_handle()));
}

TEST(unix_stream, write_to_closed_peer_is_epipe_without_sigpipe) {
  auto p = unix_stream::pair().value();
  p.second.close();
  auto r = p.first.write(bytes("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::broken_pipe);
}

TEST(unix_stream, bind_to_an_existing_path_fails) {
  temp_dir dir;
  const auto at = socket_address::unix_path(dir.file("s.sock")).value();
  auto first = unix_listener::bind(at).value();
  auto second = unix_listener::bind(at);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

void exchange_over_unix_datagram(const socket_address& server_at, const socket_address& client_at) {
  auto server = unix_datagram::bind(server_at);
  ASSERT_TRUE(server) << server.error().message();
  auto client = unix_datagram::bind(client_at).value();
  EXPECT_EQ(client.send_to(bytes("dgram"), server_at).value(), 5u);
  ASSERT_TRUE(wait_readable(server->native_handle()));
  std::byte buf[16];
  auto r = server->recv_from(buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(text(std::span(buf).first(r->first)), "dgram");
  EXPECT_EQ(r->second, client_at);
  EXPECT_EQ(server->send_to(bytes("reply"), r->second).value(), 5u);
  ASSERT_TRUE(wait_readable(client.native_handle()));
  EXPECT_EQ(client.recv(buf).value(), 5u);
}

TEST(unix_datagram, send_to_and_recv_from_over_paths) {
  temp_dir dir;
  exchange_over_unix_datagram(socket_address::unix_path(dir.file("server")).value(),
                              socket_address::unix_path(dir.file("client")).value());
}

TEST(unix_datagram, send_to_and_recv_from_over_abstract_names) {
  const std::string pid = std::to_string(::getpid());
  exchange_over_unix_datagram(socket_address::unix_abstract("corio-dg-s-" + pid).value(),
                              socket_address::unix_abstract("corio-dg-c-" + pid).value());
}

TEST(unix_datagram, unbound_sender_arrives_unnamed) {
  temp_dir dir;
  const auto at = socket_address::unix_path(dir.file("server")).value();
  auto server = unix_datagram::bind(at).value();
  auto sender = unix_datagram::unbound().value();
  ASSERT_TRUE(sender.connect(at));
  EXPECT_EQ(sender.send({}).value(), 0u);
  ASSERT_TRUE(wait_readable(server.native_handle()));
  std::byte buf[4];
  auto r = server.recv_from(buf);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->second.to_string(), "");
}

TEST(unix_datagram, pair_keeps_message_boundaries) {
  auto p = unix_datagram::pair().value();
  EXPECT_EQ(p.first.send(bytes("one")).value(), 3u);
  EXPECT_EQ(p.first.send(bytes("two!")).value(), 4u);
  std::byte buf[16];
  ASSERT_TRUE(wait_readable(p.second.native_handle()));
  EXPECT_EQ(p.second.recv(buf).value(), 3u);
  EXPECT_EQ(p.second.recv(buf).value(), 4u);
  EXPECT_TRUE(is_nonblocking_and_cloexec(p.first.native_handle()));
}

}  // namespace
