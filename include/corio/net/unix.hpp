// Non-blocking unix-domain sockets, with filesystem (socket_address::unix_path) or Linux
// abstract (socket_address::unix_abstract) addresses. Same contract as tcp.hpp: one syscall
// per call, EAGAIN as an error, no SIGPIPE.
//
// A filesystem listener leaves its socket file behind when closed, and bind fails with
// EADDRINUSE while the file exists: removing a stale file is the caller's decision.
#pragma once

#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>  // shutdown_how
#include <corio/unique_fd.hpp>

namespace corio::net {

class unix_stream {
 public:
  unix_stream() noexcept = default;

  // Non-blocking: may return while in progress (EAGAIN from a full backlog is an error).
  static result<unix_stream> connect(const socket_address& to);
  // An unconnected stream socket, for a connect made elsewhere (io_uring's).
  static result<unix_stream> open();
  // Two connected, unnamed ends (socketpair).
  static result<std::pair<unix_stream, unix_stream>> pair();
  static unix_stream from_fd(unique_fd fd) noexcept { return unix_stream(std::move(fd)); }

  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf);
  result<std::size_t> writev(std::span<const std::span<const std::byte>> bufs);
  result<void> shutdown(shutdown_how how);

  result<socket_address> local_address() const;
  result<socket_address> peer_address() const;
  std::error_code take_error();
  int native_handle() const noexcept { return fd_.get(); }
  unique_fd& fd() noexcept { return fd_; }
  void close() noexcept { fd_.reset(); }

 private:
  explicit unix_stream(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  unique_fd fd_;
};

class unix_listener {
 public:
  unix_listener() noexcept = default;
  static unix_listener from_fd(unique_fd fd) noexcept { return unix_listener(std::move(fd)); }

  static result<unix_listener> bind(const socket_address& at, int backlog = 1024);
  // The peer address is usually unnamed (clients rarely bind).
  result<std::pair<unix_stream, socket_address>> accept();

  result<socket_address> local_address() const;
  int native_handle() const noexcept { return fd_.get(); }
  unique_fd& fd() noexcept { return fd_; }
  void close() noexcept { fd_.reset(); }

 private:
  explicit unix_listener(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  unique_fd fd_;
};

class unix_datagram {
 public:
  unix_datagram() noexcept = default;

  static result<unix_datagram> bind(const socket_address& at);
  // A socket with no name: it can send, but nobody can reply to it unless it is connected.
  static result<unix_datagram> unbound();
  static result<std::pair<unix_datagram, unix_datagram>> pair();
  static unix_datagram from_fd(unique_fd fd) noexcept { return unix_datagram(std::move(fd)); }

  result<void> connect(const socket_address& to);
  result<std::size_t> send_to(std::span<const std::byte> buf, const socket_address& to);
  result<std::pair<std::size_t, socket_address>> recv_from(std::span<std::byte> buf);
  result<std::size_t> send(std::span<const std::byte> buf);
  result<std::size_t> recv(std::span<std::byte> buf);

  result<socket_address> local_address() const;
  result<socket_address> peer_address() const;
  std::error_code take_error();
  int native_handle() const noexcept { return fd_.get(); }
  unique_fd& fd() noexcept { return fd_; }
  void close() noexcept { fd_.reset(); }

 private:
  explicit unix_datagram(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  unique_fd fd_;
};

}  // namespace corio::net
