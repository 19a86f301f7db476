// Non-blocking TCP sockets. Every call is one syscall: nothing here waits. A call that would
// block fails with EAGAIN (test with corio::would_block(ec)); the caller waits for readiness
// (corio::poll, or the awaitables above it) and retries. Sends never raise SIGPIPE: a write to
// a reset connection fails with EPIPE or ECONNRESET instead.
#pragma once

#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/unique_fd.hpp>

namespace corio::net {

enum class shutdown_how { read, write, both };

class tcp_stream {
 public:
  tcp_stream() noexcept = default;

  // Starts a non-blocking connect and returns while it is in progress. It has completed when
  // the stream becomes writable; then take_error() tells whether it succeeded.
  static result<tcp_stream> connect(const socket_address& to);
  // An unconnected stream socket of `family`, for a connect made elsewhere (io_uring's).
  static result<tcp_stream> open(address_family family);
  static tcp_stream from_fd(unique_fd fd) noexcept { return tcp_stream(std::move(fd)); }

  // 0 means end of stream (the peer shut its write side).
  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf);
  // Gathers up to a fixed number of buffers per call; a short count is a normal partial write.
  result<std::size_t> writev(std::span<const std::span<const std::byte>> bufs);
  result<void> shutdown(shutdown_how how);

  result<void> set_nodelay(bool on);
  result<bool> nodelay() const;
  result<socket_address> local_address() const;
  result<socket_address> peer_address() const;
  // SO_ERROR: the pending socket error (e.g. a failed connect), cleared by reading it.
  std::error_code take_error();

  int native_handle() const noexcept { return fd_.get(); }
  unique_fd& fd() noexcept { return fd_; }
  void close() noexcept { fd_.reset(); }

 private:
  explicit tcp_stream(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  unique_fd fd_;
};

class tcp_listener {
 public:
  tcp_listener() noexcept = default;
  // Adopts an already listening socket (e.g. one passed by systemd socket activation).
  static tcp_listener from_fd(unique_fd fd) noexcept { return tcp_listener(std::move(fd)); }

  // SO_REUSEADDR so a restarted server can rebind while old connections sit in TIME_WAIT; an
  // IPv6 listener is IPV6_V6ONLY so "[::]:p" and "0.0.0.0:p" can be bound side by side.
  // Port 0 picks an ephemeral port: read it back with local_address().
  static result<tcp_listener> bind(const socket_address& at, int backlog = 1024);
  static result<tcp_listener> bind(const socket_address& at, const bind_options& options);

  // The accepted stream is non-blocking and close-on-exec. EAGAIN when nothing is pending;
  // EMFILE/ENFILE/ECONNABORTED are returned too, never hidden.
  result<std::pair<tcp_stream, socket_address>> accept();

  result<socket_address> local_address() const;
  std::error_code take_error();
  int native_handle() const noexcept { return fd_.get(); }
  unique_fd& fd() noexcept { return fd_; }
  void close() noexcept { fd_.reset(); }

 private:
  explicit tcp_listener(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  unique_fd fd_;
};

}  // namespace corio::net
