// The os seam: every syscall corio makes on a socket goes through one of these functions, and
// every socket class method is a one-line call to one of them (liburing style: one primitive,
// many wrappers). Only lib/os/*.cpp include OS headers; this header keeps them out so callers
// (and tests) see plain ints, spans and corio types.
//
// Invariants kept here, once:
// - every fd is created non-blocking and close-on-exec (SOCK_NONBLOCK|SOCK_CLOEXEC, accept4);
// - every send passes MSG_NOSIGNAL, so a reset peer is an EPIPE/ECONNRESET error, never SIGPIPE;
// - EINTR is retried by retry_eintr and nowhere else; EAGAIN is returned as an error code.
#pragma once

#include <cerrno>
#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>
#include <corio/unique_fd.hpp>

namespace corio::sys {

// Repeats `call` while it fails with EINTR (returns -1 and sets errno). A signal arriving
// mid-syscall is not an error the caller should see. Takes any callable so tests can feed it
// scripted failures.
template <class Call>
auto retry_eintr(Call&& call) -> decltype(call()) {
  for (;;) {
    auto r = call();
    if (!(r == -1 && errno == EINTR)) return r;
  }
}

// A byte count from a read/write-style return value: -1 becomes errno.
inline result<std::size_t> size_or_errno(long n) noexcept {
  if (n < 0) return last_errno();
  return static_cast<std::size_t>(n);
}

inline result<void> void_or_errno(int rc) noexcept {
  if (rc < 0) return last_errno();
  return {};
}

enum class kind { stream, datagram };
enum class option { reuse_address, reuse_port, v6_only, no_delay };

using byte_span = std::span<std::byte>;
using const_byte_span = std::span<const std::byte>;

// --- creation --------------------------------------------------------------------------------
result<unique_fd> open(net::address_family family, kind k);
result<std::pair<unique_fd, unique_fd>> open_unix_pair(kind k);
// open + bind; with `reuse_address` for listeners, and IPV6_V6ONLY for every v6 socket so
// binding "[::]" never silently takes the v4 port too.
result<unique_fd> open_bound(const net::socket_address& at, kind k, bool reuse_address = false,
                             bool reuse_port = false);
// open_bound + listen.
result<unique_fd> open_listener(const net::socket_address& at, int backlog, bool reuse_port = false);
// open + non-blocking connect (in progress counts as success).
result<unique_fd> open_connected(const net::socket_address& to, kind k);

// --- operations on an open fd ----------------------------------------------------------------
result<void> bind(int fd, const net::socket_address& at);
result<void> listen(int fd, int backlog);
result<void> connect(int fd, const net::socket_address& to);
result<std::pair<unique_fd, net::socket_address>> accept(int fd);

result<std::size_t> read(int fd, byte_span buf);
result<std::size_t> send(int fd, const_byte_span buf);
result<std::size_t> sendv(int fd, std::span<const const_byte_span> bufs);
result<std::size_t> send_to(int fd, const_byte_span buf, const net::socket_address& to);
result<std::pair<std::size_t, net::socket_address>> recv_from(int fd, byte_span buf);
result<void> shutdown(int fd, net::shutdown_how how);

result<net::socket_address> local_address(int fd);
result<net::socket_address> peer_address(int fd);
std::error_code take_error(int fd);
result<void> set_option(int fd, option opt, bool on);
result<bool> get_option(int fd, option opt);

// --- adapters from fds to socket classes (each class has a public from_fd) --------------------
template <class Socket>
result<Socket> adopt(result<unique_fd> fd) {
  if (!fd) return fd.error();
  return Socket::from_fd(std::move(*fd));
}

template <class Socket>
result<std::pair<Socket, Socket>> adopt_pair(result<std::pair<unique_fd, unique_fd>> fds) {
  if (!fds) return fds.error();
  return std::pair{Socket::from_fd(std::move(fds->first)), Socket::from_fd(std::move(fds->second))};
}

template <class Stream>
result<std::pair<Stream, net::socket_address>> adopt_accepted(
    result<std::pair<unique_fd, net::socket_address>> r) {
  if (!r) return r.error();
  return std::pair{Stream::from_fd(std::move(r->first)), r->second};
}

}  // namespace corio::sys
