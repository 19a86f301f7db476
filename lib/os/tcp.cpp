// tcp_stream and tcp_listener: one-line forwards to the primitives in sys.hpp.
#include <corio/net/tcp.hpp>

#include "os/sys.hpp"
#include "os/transfer.hpp"

namespace corio::net {

result<tcp_stream> tcp_stream::connect(const socket_address& to) {
  return sys::adopt<tcp_stream>(sys::open_connected(to, sys::kind::stream));
}
result<tcp_stream> tcp_stream::open(address_family family) {
  return sys::adopt<tcp_stream>(sys::open(family, sys::kind::stream));
}
// sys::read and sys::send, inlined: these two are on every echoed message.
result<std::size_t> tcp_stream::read(std::span<std::byte> buf) { return sys::read_now(fd_.get(), buf); }
result<std::size_t> tcp_stream::write(std::span<const std::byte> buf) {
  return sys::send_now(fd_.get(), buf);
}
result<std::size_t> tcp_stream::writev(std::span<const std::span<const std::byte>> bufs) {
  return sys::sendv(fd_.get(), bufs);
}
result<void> tcp_stream::shutdown(shutdown_how how) { return sys::shutdown(fd_.get(), how); }
result<void> tcp_stream::set_nodelay(bool on) {
  return sys::set_option(fd_.get(), sys::option::no_delay, on);
}
result<bool> tcp_stream::nodelay() const { return sys::get_option(fd_.get(), sys::option::no_delay); }
result<socket_address> tcp_stream::local_address() const { return sys::local_address(fd_.get()); }
result<socket_address> tcp_stream::peer_address() const { return sys::peer_address(fd_.get()); }
std::error_code tcp_stream::take_error() { return sys::take_error(fd_.get()); }

result<tcp_listener> tcp_listener::bind(const socket_address& at, int backlog) {
  return sys::adopt<tcp_listener>(sys::open_listener(at, backlog));
}
result<tcp_listener> tcp_listener::bind(const socket_address& at, const bind_options& options) {
  return sys::adopt<tcp_listener>(sys::open_listener(at, options.backlog, options.reuse_port));
}
result<std::pair<tcp_stream, socket_address>> tcp_listener::accept() {
  return sys::adopt_accepted<tcp_stream>(sys::accept(fd_.get()));
}
result<socket_address> tcp_listener::local_address() const { return sys::local_address(fd_.get()); }
std::error_code tcp_listener::take_error() { return sys::take_error(fd_.get()); }

}  // namespace corio::net
