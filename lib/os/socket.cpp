// The socket primitives behind lib/os/sys.hpp. Each is one syscall (plus EINTR retry); the
// socket classes in tcp.cpp, udp.cpp and unix.cpp only forward to these.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>

#include "os/nocancel.hpp"
#include "os/sys.hpp"
#include "os/transfer.hpp"

namespace corio::sys {
namespace {

using net::address_family;
using net::socket_address;

int domain_of(address_family f) noexcept {
  switch (f) {
    case address_family::ipv4: return AF_INET;
    case address_family::ipv6: return AF_INET6;
    case address_family::unix_domain: return AF_UNIX;
    case address_family::unspecified: break;
  }
  return AF_UNSPEC;
}

int type_of(kind k) noexcept {
  return (k == kind::stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
}

const sockaddr* sa(const socket_address& a) noexcept {
  return static_cast<const sockaddr*>(a.data());
}
sockaddr* sa(socket_address& a) noexcept { return static_cast<sockaddr*>(a.data()); }

struct sockopt {
  int level;
  int name;
};

sockopt to_sockopt(option opt) noexcept {
  switch (opt) {
    case option::reuse_address: return {SOL_SOCKET, SO_REUSEADDR};
    case option::reuse_port: return {SOL_SOCKET, SO_REUSEPORT};
    case option::v6_only: return {IPPROTO_IPV6, IPV6_V6ONLY};
    case option::no_delay: return {IPPROTO_TCP, TCP_NODELAY};
  }
  return {SOL_SOCKET, SO_REUSEADDR};
}

// getsockname/getpeername share everything but the call.
template <class Call>
result<socket_address> query_address(Call&& call) {
  socket_address out;
  socklen_t len = socket_address::capacity();
  if (call(sa(out), &len) < 0) return last_errno();
  out.resize(len);
  return out;
}

}  // namespace

// --- creation --------------------------------------------------------------------------------

result<unique_fd> open(address_family family, kind k) {
  if (family == address_family::unspecified) return errno_code(EAFNOSUPPORT);
  const int fd = ::socket(domain_of(family), type_of(k), 0);
  if (fd < 0) return last_errno();
  return unique_fd(fd);
}

result<std::pair<unique_fd, unique_fd>> open_unix_pair(kind k) {
  int fds[2];
  if (::socketpair(AF_UNIX, type_of(k), 0, fds) < 0) return last_errno();
  return std::pair{unique_fd(fds[0]), unique_fd(fds[1])};
}

result<unique_fd> open_bound(const socket_address& at, kind k, bool reuse_address,
                             bool reuse_port) {
  auto fd = open(at.family(), k);
  if (!fd) return fd;
  if (reuse_address) {
    if (auto r = set_option(fd->get(), option::reuse_address, true); !r) return r.error();
  }
  if (reuse_port) {
    if (auto r = set_option(fd->get(), option::reuse_port, true); !r) return r.error();
  }
  if (at.family() == address_family::ipv6) {
    if (auto r = set_option(fd->get(), option::v6_only, true); !r) return r.error();
  }
  if (auto r = bind(fd->get(), at); !r) return r.error();
  return fd;
}

result<unique_fd> open_listener(const socket_address& at, int backlog, bool reuse_port) {
  auto fd = open_bound(at, kind::stream, at.family() != address_family::unix_domain, reuse_port);
  if (!fd) return fd;
  if (auto r = listen(fd->get(), backlog); !r) return r.error();
  return fd;
}

result<unique_fd> open_connected(const socket_address& to, kind k) {
  auto fd = open(to.family(), k);
  if (!fd) return fd;
  if (auto r = connect(fd->get(), to); !r) return r.error();
  return fd;
}

// --- operations ------------------------------------------------------------------------------

result<void> bind(int fd, const socket_address& at) {
  return void_or_errno(::bind(fd, sa(at), at.size()));
}

result<void> listen(int fd, int backlog) { return void_or_errno(::listen(fd, backlog)); }

result<void> connect(int fd, const socket_address& to) {
  // Not retried: after EINTR the connect carries on asynchronously and a second call would
  // fail with EALREADY. Both EINTR and EINPROGRESS mean "wait for writable, then take_error".
  if (::connect(fd, sa(to), to.size()) == 0) return {};
  if (errno == EINPROGRESS || errno == EINTR) return {};
  return last_errno();
}

result<std::pair<unique_fd, socket_address>> accept(int fd) {
  socket_address peer;
  socklen_t len = socket_address::capacity();
  const int conn = retry_eintr(
      [&] { return nocancel::accept4(fd, sa(peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC); });
  if (conn < 0) return last_errno();
  peer.resize(len);
  return std::pair{unique_fd(conn), peer};
}

result<std::size_t> send(int fd, const_byte_span buf) { return send_now(fd, buf); }

result<std::size_t> send_failed(int fd, const_byte_span buf, int error) {
  if (error != EINTR) return errno_code(error);
  return size_or_errno(retry_eintr([&] {
    return nocancel::sendto(fd, buf.data(), buf.size(), MSG_NOSIGNAL, nullptr, 0);
  }));
}

result<std::size_t> sendv(int fd, std::span<const const_byte_span> bufs) {
  // A fixed batch keeps this allocation-free; sending fewer buffers than given is just a
  // short write, which callers handle anyway.
  std::array<iovec, 64> iov{};
  const std::size_t n = std::min(bufs.size(), iov.size());
  for (std::size_t i = 0; i < n; ++i) {
    // sendmsg never writes through iov_base; the cast only satisfies iovec's type.
    iov[i].iov_base = const_cast<std::byte*>(bufs[i].data());
    iov[i].iov_len = bufs[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = n;
  return size_or_errno(retry_eintr([&] { return nocancel::sendmsg(fd, &msg, MSG_NOSIGNAL); }));
}

result<std::size_t> send_to(int fd, const_byte_span buf, const socket_address& to) {
  return size_or_errno(retry_eintr([&] {
    return nocancel::sendto(fd, buf.data(), buf.size(), MSG_NOSIGNAL, sa(to), to.size());
  }));
}

result<std::pair<std::size_t, socket_address>> recv_from(int fd, byte_span buf) {
  socket_address from;
  socklen_t len = socket_address::capacity();
  const auto n = retry_eintr(
      [&] { return nocancel::recvfrom(fd, buf.data(), buf.size(), 0, sa(from), &len); });
  if (n < 0) return last_errno();
  from.resize(len);
  return std::pair{static_cast<std::size_t>(n), from};
}

result<void> shutdown(int fd, net::shutdown_how how) {
  const int h = how == net::shutdown_how::read    ? SHUT_RD
                : how == net::shutdown_how::write ? SHUT_WR
                                                  : SHUT_RDWR;
  return void_or_errno(::shutdown(fd, h));
}

result<socket_address> local_address(int fd) {
  return query_address([&](sockaddr* a, socklen_t* l) { return ::getsockname(fd, a, l); });
}

result<socket_address> peer_address(int fd) {
  return query_address([&](sockaddr* a, socklen_t* l) { return ::getpeername(fd, a, l); });
}

std::error_code take_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return last_errno();
  return err == 0 ? std::error_code{} : errno_code(err);
}

result<void> set_option(int fd, option opt, bool on) {
  const auto o = to_sockopt(opt);
  const int value = on ? 1 : 0;
  return void_or_errno(::setsockopt(fd, o.level, o.name, &value, sizeof value));
}

result<bool> get_option(int fd, option opt) {
  const auto o = to_sockopt(opt);
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, o.level, o.name, &value, &len) < 0) return last_errno();
  return value != 0;
}

}  // namespace corio::sys
