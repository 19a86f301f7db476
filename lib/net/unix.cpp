// The out-of-line parts of the unix-domain awaitable sockets: pairs, connecting, binding.
// Registration, move and close are detail::registered_socket's.
#include <corio/unix.hpp>

namespace corio {

// --- unix_stream ------------------------------------------------------------------------------

result<std::pair<unix_stream, unix_stream>> unix_stream::pair() {
  auto raw = net::unix_stream::pair();
  if (!raw) return raw.error();
  auto a = from_raw(std::move(raw->first));
  if (!a) return a.error();
  auto b = from_raw(std::move(raw->second));
  if (!b) return b.error();
  return std::pair{std::move(*a), std::move(*b)};
}

result<unix_stream> unix_stream::start_connect(const net::socket_address& to) {
  auto raw = detail::connects_whole() ? net::unix_stream::open() : net::unix_stream::connect(to);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

std::error_code unix_stream::connect_status() {
  if (auto ec = raw_.take_error()) return ec;
  auto peer = raw_.peer_address();
  if (peer) return {};
  if (peer.error() == std::errc::not_connected) {
    return std::make_error_code(std::errc::operation_would_block);
  }
  return peer.error();
}

// --- unix_listener ----------------------------------------------------------------------------

result<unix_listener> unix_listener::bind(const net::socket_address& at, int backlog) {
  return bind_raw(at, backlog);
}

// --- unix_datagram ----------------------------------------------------------------------------

result<unix_datagram> unix_datagram::bind(const net::socket_address& at) {
  return bind_raw(at);
}

result<unix_datagram> unix_datagram::unbound() {
  auto raw = net::unix_datagram::unbound();
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

result<std::pair<unix_datagram, unix_datagram>> unix_datagram::pair() {
  auto raw = net::unix_datagram::pair();
  if (!raw) return raw.error();
  auto a = from_raw(std::move(raw->first));
  if (!a) return a.error();
  auto b = from_raw(std::move(raw->second));
  if (!b) return b.error();
  return std::pair{std::move(*a), std::move(*b)};
}

}  // namespace corio
