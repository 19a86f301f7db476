// UDP for coroutines: one datagram per operation, "syscall; on EAGAIN await readiness; retry".
//
//   auto sock = corio::udp_socket::bind(addr).value();
//   std::array<std::byte, 65507> buf;
//   auto got = co_await sock.recv_from(buf);        // result<pair<size_t, net::socket_address>>
//   co_await sock.send_to(std::span(buf).first(got->first), got->second);
//
// Sharp edges: the thread, one-waiter-per-direction, do-not-move-while-pending, close and
// cancellation rules of tcp.hpp hold here too. A datagram longer than the buffer is truncated
// (the rest is lost), and a 0-byte datagram is received as a size of 0.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/detail/io_awaiter.hpp>
#include <corio/detail/registered_socket.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/net/udp.hpp>

namespace corio {

class udp_socket : public detail::registered_socket<udp_socket, net::udp_socket> {
 public:
  // Port 0 picks one (see local_address()).
  static result<udp_socket> bind(const net::socket_address& at);
  static result<udp_socket> bind(const net::socket_address& at, const net::bind_options& options);

  // Sets the default destination and filters what recv() sees to that peer.
  result<void> connect(const net::socket_address& to) { return raw_.connect(to); }

  // co_await → result<std::size_t>.
  auto send_to(std::span<const std::byte> buf, const net::socket_address& to) noexcept {
    return detail::send_to(raw_, reg_, buf, to);
  }
  // co_await → result<std::pair<std::size_t, net::socket_address>>.
  auto recv_from(std::span<std::byte> buf) noexcept { return detail::recv_from(raw_, reg_, buf); }
  // Connected sockets only. co_await → result<std::size_t>.
  auto send(std::span<const std::byte> buf) noexcept { return detail::send(raw_, reg_, buf); }
  auto recv(std::span<std::byte> buf) noexcept { return detail::recv(raw_, reg_, buf); }

  result<net::socket_address> peer_address() const { return raw_.peer_address(); }
};

}  // namespace corio
