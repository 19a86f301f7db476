// unix_stream, unix_listener and unix_datagram: one-line forwards to the primitives in sys.hpp.
#include <corio/net/unix.hpp>

#include "os/sys.hpp"

namespace corio::net {

// --- unix_stream -------------------------------------------------------------------------------
result<unix_stream> unix_stream::connect(const socket_address& to) {
  return sys::adopt<unix_stream>(sys::open_connected(to, sys::kind::stream));
}
result<unix_stream> unix_stream::open() {
  return sys::adopt<unix_stream>(sys::open(address_family::unix_domain, sys::kind::stream));
}
result<std::pair<unix_stream, unix_stream>> unix_stream::pair() {
  return sys::adopt_pair<unix_stream>(sys::open_unix_pair(sys::kind::stream));
}
result<std::size_t> unix_stream::read(std::span<std::byte> buf) { return sys::read(fd_.get(), buf); }
result<std::size_t> unix_stream::write(std::span<const std::byte> buf) {
  return sys::send(fd_.get(), buf);
}
result<std::size_t> unix_stream::writev(std::span<const std::span<const std::byte>> bufs) {
  return sys::sendv(fd_.get(), bufs);
}
result<void> unix_stream::shutdown(shutdown_how how) { return sys::shutdown(fd_.get(), how); }
result<socket_address> unix_stream::local_address() const { return sys::local_address(fd_.get()); }
result<socket_address> unix_stream::peer_address() const { return sys::peer_address(fd_.get()); }
std::error_code unix_stream::take_error() { return sys::take_error(fd_.get()); }

// --- unix_listener -----------------------------------------------------------------------------
result<unix_listener> unix_listener::bind(const socket_address& at, int backlog) {
  return sys::adopt<unix_listener>(sys::open_listener(at, backlog));
}
result<std::pair<unix_stream, socket_address>> unix_listener::accept() {
  return sys::adopt_accepted<unix_stream>(sys::accept(fd_.get()));
}
result<socket_address> unix_listener::local_address() const { return sys::local_address(fd_.get()); }

// --- unix_datagram -----------------------------------------------------------------------------
result<unix_datagram> unix_datagram::bind(const socket_address& at) {
  return sys::adopt<unix_datagram>(sys::open_bound(at, sys::kind::datagram));
}
result<unix_datagram> unix_datagram::unbound() {
  return sys::adopt<unix_datagram>(sys::open(address_family::unix_domain, sys::kind::datagram));
}
result<std::pair<unix_datagram, unix_datagram>> unix_datagram::pair() {
  return sys::adopt_pair<unix_datagram>(sys::open_unix_pair(sys::kind::datagram));
}
result<void> unix_datagram::connect(const socket_address& to) { return sys::connect(fd_.get(), to); }
result<std::size_t> unix_datagram::send_to(std::span<const std::byte> buf, const socket_address& to) {
  return sys::send_to(fd_.get(), buf, to);
}
result<std::pair<std::size_t, socket_address>> unix_datagram::recv_from(std::span<std::byte> buf) {
  return sys::recv_from(fd_.get(), buf);
}
result<std::size_t> unix_datagram::send(std::span<const std::byte> buf) {
  return sys::send(fd_.get(), buf);
}
result<std::size_t> unix_datagram::recv(std::span<std::byte> buf) { return sys::read(fd_.get(), buf); }
result<socket_address> unix_datagram::local_address() const { return sys::local_address(fd_.get()); }
result<socket_address> unix_datagram::peer_address() const { return sys::peer_address(fd_.get()); }
std::error_code unix_datagram::take_error() { return sys::take_error(fd_.get()); }

}  // namespace corio::net
