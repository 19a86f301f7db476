// TCP for coroutines: every operation is "syscall; on EAGAIN await readiness; retry".
//
//   auto listener = corio::tcp_listener::bind(addr).value();
//   auto [stream, peer] = (co_await listener.accept()).value();
//   std::array<std::byte, 4096> buf;
//   auto n = co_await stream.read(buf);             // result<std::size_t>, 0 = end of stream
//   co_await stream.write_all(std::span(buf).first(*n));
//
// Sharp edges, read these before using it:
// - Thread. A socket registers with the executor of the thread that made it (bind, accept,
//   connect, from_raw), and is used on that thread only. Outside a corio thread making one fails
//   with operation_not_permitted.
// - One waiter per direction. A second read (or write) awaiting while one is pending on the same
//   socket gets device_or_resource_busy. One reader task and one writer task is fine.
// - Closing or destroying a socket while another task awaits one of its operations resumes
//   that operation with error::operation_aborted (a result the kernel delivered first still
//   stands). Do not move a socket while one of its operations is pending.
// - Cancellation. A stop request on the task resumes a pending operation with
//   operation_canceled; a later co_await of a stopped task does too, without a syscall. A
//   cancelled read leaves the data in the kernel for the next read. A cancelled read_exact or
//   write_all may already have moved part of its buffer: the stream position is then unknown.
// - Writes never raise SIGPIPE; a reset peer is an EPIPE/ECONNRESET error.
// - Fairness. An operation that can complete at once does not yield, so a loop over a socket
//   that is always ready (a flood of connections or data) keeps its thread until it waits.
#pragma once

#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/detail/io_awaiter.hpp>
#include <corio/detail/registered_socket.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/tcp.hpp>

namespace corio {

class tcp_stream : public detail::registered_socket<tcp_stream, net::tcp_stream> {
 public:
  // co_await → result<tcp_stream>: a non-blocking connect, then wait until it completed.
  static auto connect(const net::socket_address& to) {
    return detail::connect(start_connect(to), to);
  }

  // co_await → result<std::size_t>; 0 means the peer shut its write side.
  auto read(std::span<std::byte> buf) noexcept { return detail::read_some(raw_, reg_, buf); }
  // co_await → result<void>; end of stream before `buf` is full is error::end_of_stream.
  auto read_exact(std::span<std::byte> buf) noexcept { return detail::read_exact(raw_, reg_, buf); }
  // co_await → result<std::size_t>, possibly fewer bytes than asked.
  auto write(std::span<const std::byte> buf) noexcept {
    return detail::write_some(raw_, reg_, buf);
  }
  // co_await → result<void>, once all of `buf` went to the kernel.
  auto write_all(std::span<const std::byte> buf) noexcept {
    return detail::write_all(raw_, reg_, buf);
  }

  result<void> shutdown_write() { return raw_.shutdown(net::shutdown_how::write); }
  result<void> set_nodelay(bool on) { return raw_.set_nodelay(on); }
  result<net::socket_address> peer_address() const { return raw_.peer_address(); }
  // Deregisters and hands back the open socket, e.g. to pass it to another worker, which
  // registers it with from_raw (a pending operation ends with operation_aborted). On io_uring,
  // reads are served from a receive that runs ahead of them (up to 64 KiB); release() stops it
  // first, but bytes it took that no read consumed are dropped: release before reading, or
  // after the peer's last byte was read.
  net::tcp_stream release() noexcept { return release_raw(); }

  // For detail::connect: the readiness registration, and how a pending connect stands (empty
  // when connected, would-block while in progress, else why it failed).
  detail::io_registration& registration() noexcept { return reg_; }
  std::error_code connect_status();

 private:
  static result<tcp_stream> start_connect(const net::socket_address& to);
};

class tcp_listener : public detail::registered_socket<tcp_listener, net::tcp_listener> {
 public:
  // Binds and listens (SO_REUSEADDR; port 0 picks one, see local_address()).
  static result<tcp_listener> bind(const net::socket_address& at, int backlog = 1024);
  // With SO_REUSEPORT (options.reuse_port) every worker can bind its own listener on one port.
  static result<tcp_listener> bind(const net::socket_address& at,
                                   const net::bind_options& options);

  // co_await → result<std::pair<tcp_stream, net::socket_address>>. EMFILE, ENFILE, ENOBUFS and
  // ECONNABORTED are reported, not retried: the connection stays queued, and a later accept
  // (after fds were freed) takes it.
  auto accept() noexcept { return detail::accept_one<tcp_stream>(raw_, reg_); }
};

}  // namespace corio
