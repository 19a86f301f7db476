// Non-blocking UDP sockets: one datagram per call, EAGAIN as an error (corio::would_block).
// Zero-length datagrams are valid and are received as a size of 0. A datagram larger than the
// buffer is truncated by the kernel (the rest is lost), so size buffers for the largest
// datagram expected (65,507 bytes for IPv4).
#pragma once

#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/unique_fd.hpp>

namespace corio::net {

class udp_socket {
 public:
  udp_socket() noexcept = default;

  // Port 0 picks an ephemeral port.
  static result<udp_socket> bind(const socket_address& at);
  static result<udp_socket> bind(const socket_address& at, const bind_options& options);
  static udp_socket from_fd(unique_fd fd) noexcept { return udp_socket(std::move(fd)); }

  // Sets the default destination and filters what recv() sees to that peer.
  result<void> connect(const socket_address& to);

  result<std::size_t> send_to(std::span<const std::byte> buf, const socket_address& to);
  result<std::pair<std::size_t, socket_address>> recv_from(std::span<std::byte> buf);
  result<std::size_t> send(std::span<const std::byte> buf);
  result<std::size_t> recv(std::span<std::byte> buf);

  result<socket_address> local_address() const;
  result<socket_address> peer_address() const;
  // A connected UDP socket reports ICMP errors (e.g. ECONNREFUSED) here and on the next call.
  std::error_code take_error();
  int native_handle() const noexcept { return fd_.get(); }
  unique_fd& fd() noexcept { return fd_; }
  void close() noexcept { fd_.reset(); }

 private:
  explicit udp_socket(unique_fd fd) noexcept : fd_(std::move(fd)) {}
  unique_fd fd_;
};

}  // namespace corio::net
