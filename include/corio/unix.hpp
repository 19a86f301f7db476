// Unix-domain sockets for coroutines, with filesystem (net::socket_address::unix_path) or Linux
// abstract (unix_abstract) addresses: the same operations and sharp edges as tcp.hpp/udp.hpp.
//
//   auto [a, b] = corio::unix_stream::pair().value();
//   co_await a.write_all(request);
//   co_await b.read_exact(reply);
//
// A filesystem listener leaves its socket file behind when closed; removing it is the caller's
// decision (bind fails with EADDRINUSE while it exists).
#pragma once

#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/detail/io_awaiter.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/unix.hpp>

namespace corio {

class unix_stream {
 public:
  unix_stream() noexcept = default;
  unix_stream(unix_stream&&) noexcept = default;
  unix_stream& operator=(unix_stream&& other) noexcept;
  ~unix_stream() = default;

  static result<unix_stream> from_raw(net::unix_stream raw);
  // Two connected, unnamed ends, both registered on this thread.
  static result<std::pair<unix_stream, unix_stream>> pair();

  // co_await → result<unix_stream>. A full listener backlog is an error (EAGAIN), not a wait.
  static auto connect(const net::socket_address& to) {
    return detail::connect(start_connect(to), to);
  }

  auto read(std::span<std::byte> buf) noexcept { return detail::read_some(raw_, reg_, buf); }
  auto read_exact(std::span<std::byte> buf) noexcept { return detail::read_exact(raw_, reg_, buf); }
  auto write(std::span<const std::byte> buf) noexcept {
    return detail::write_some(raw_, reg_, buf);
  }
  auto write_all(std::span<const std::byte> buf) noexcept {
    return detail::write_all(raw_, reg_, buf);
  }

  result<void> shutdown_write() { return raw_.shutdown(net::shutdown_how::write); }
  result<net::socket_address> local_address() const { return raw_.local_address(); }
  result<net::socket_address> peer_address() const { return raw_.peer_address(); }
  void close() noexcept;

  net::unix_stream& raw() noexcept { return raw_; }
  const net::unix_stream& raw() const noexcept { return raw_; }

  // For detail::connect (see tcp_stream).
  detail::io_registration& registration() noexcept { return reg_; }
  std::error_code connect_status();

 private:
  static result<unix_stream> start_connect(const net::socket_address& to);

  net::unix_stream raw_;  // before reg_: deregister before the fd closes (see tcp.hpp)
  detail::io_registration reg_;
};

class unix_listener {
 public:
  unix_listener() noexcept = default;
  unix_listener(unix_listener&&) noexcept = default;
  unix_listener& operator=(unix_listener&& other) noexcept;
  ~unix_listener() = default;

  static result<unix_listener> bind(const net::socket_address& at, int backlog = 1024);
  static result<unix_listener> from_raw(net::unix_listener raw);

  // co_await → result<std::pair<unix_stream, net::socket_address>>; the peer is usually unnamed.
  auto accept() noexcept { return detail::accept_one<unix_stream>(raw_, reg_); }

  result<net::socket_address> local_address() const { return raw_.local_address(); }
  void close() noexcept;

  net::unix_listener& raw() noexcept { return raw_; }
  const net::unix_listener& raw() const noexcept { return raw_; }

 private:
  net::unix_listener raw_;
  detail::io_registration reg_;
};

class unix_datagram {
 public:
  unix_datagram() noexcept = default;
  unix_datagram(unix_datagram&&) noexcept = default;
  unix_datagram& operator=(unix_datagram&& other) noexcept;
  ~unix_datagram() = default;

  static result<unix_datagram> bind(const net::socket_address& at);
  // No name: it can send, but only a connected peer can reply.
  static result<unix_datagram> unbound();
  static result<std::pair<unix_datagram, unix_datagram>> pair();
  static result<unix_datagram> from_raw(net::unix_datagram raw);

  result<void> connect(const net::socket_address& to) { return raw_.connect(to); }

  auto send_to(std::span<const std::byte> buf, const net::socket_address& to) noexcept {
    return detail::send_to(raw_, reg_, buf, to);
  }
  auto recv_from(std::span<std::byte> buf) noexcept { return detail::recv_from(raw_, reg_, buf); }
  auto send(std::span<const std::byte> buf) noexcept { return detail::send(raw_, reg_, buf); }
  auto recv(std::span<std::byte> buf) noexcept { return detail::recv(raw_, reg_, buf); }

  result<net::socket_address> local_address() const { return raw_.local_address(); }
  result<net::socket_address> peer_address() const { return raw_.peer_address(); }
  void close() noexcept;

  net::unix_datagram& raw() noexcept { return raw_; }
  const net::unix_datagram& raw() const noexcept { return raw_; }

 private:
  net::unix_datagram raw_;
  detail::io_registration reg_;
};

}  // namespace corio
