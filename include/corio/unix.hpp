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
#include <corio/detail/registered_socket.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/unix.hpp>

namespace corio {

class unix_stream : public detail::registered_socket<unix_stream, net::unix_stream> {
 public:
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
  result<net::socket_address> peer_address() const { return raw_.peer_address(); }

  // For detail::connect (see tcp_stream).
  detail::io_registration& registration() noexcept { return reg_; }
  std::error_code connect_status();

 private:
  static result<unix_stream> start_connect(const net::socket_address& to);
};

class unix_listener : public detail::registered_socket<unix_listener, net::unix_listener> {
 public:
  static result<unix_listener> bind(const net::socket_address& at, int backlog = 1024);

  // co_await → result<std::pair<unix_stream, net::socket_address>>; the peer is usually unnamed.
  auto accept() noexcept { return detail::accept_one<unix_stream>(raw_, reg_); }
};

class unix_datagram : public detail::registered_socket<unix_datagram, net::unix_datagram> {
 public:
  static result<unix_datagram> bind(const net::socket_address& at);
  // No name: it can send, but only a connected peer can reply.
  static result<unix_datagram> unbound();
  static result<std::pair<unix_datagram, unix_datagram>> pair();

  result<void> connect(const net::socket_address& to) { return raw_.connect(to); }

  auto send_to(std::span<const std::byte> buf, const net::socket_address& to) noexcept {
    return detail::send_to(raw_, reg_, buf, to);
  }
  auto recv_from(std::span<std::byte> buf) noexcept { return detail::recv_from(raw_, reg_, buf); }
  auto send(std::span<const std::byte> buf) noexcept { return detail::send(raw_, reg_, buf); }
  auto recv(std::span<std::byte> buf) noexcept { return detail::recv(raw_, reg_, buf); }

  result<net::socket_address> peer_address() const { return raw_.peer_address(); }
};

}  // namespace corio
