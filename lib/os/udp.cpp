// udp_socket: one-line forwards to the primitives in sys.hpp.
#include <corio/net/udp.hpp>

#include "os/sys.hpp"

namespace corio::net {

result<udp_socket> udp_socket::bind(const socket_address& at) {
  return sys::adopt<udp_socket>(sys::open_bound(at, sys::kind::datagram));
}
result<udp_socket> udp_socket::bind(const socket_address& at, const bind_options& options) {
  return sys::adopt<udp_socket>(
      sys::open_bound(at, sys::kind::datagram, false, options.reuse_port));
}
result<void> udp_socket::connect(const socket_address& to) { return sys::connect(fd_.get(), to); }
result<std::size_t> udp_socket::send_to(std::span<const std::byte> buf, const socket_address& to) {
  return sys::send_to(fd_.get(), buf, to);
}
result<std::pair<std::size_t, socket_address>> udp_socket::recv_from(std::span<std::byte> buf) {
  return sys::recv_from(fd_.get(), buf);
}
result<std::size_t> udp_socket::send(std::span<const std::byte> buf) { return sys::send(fd_.get(), buf); }
result<std::size_t> udp_socket::recv(std::span<std::byte> buf) { return sys::read(fd_.get(), buf); }
result<socket_address> udp_socket::local_address() const { return sys::local_address(fd_.get()); }
result<socket_address> udp_socket::peer_address() const { return sys::peer_address(fd_.get()); }
std::error_code udp_socket::take_error() { return sys::take_error(fd_.get()); }

}  // namespace corio::net
