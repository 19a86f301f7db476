// The out-of-line parts of corio::tcp_stream and corio::tcp_listener: connecting and binding.
// Registration, move and close are detail::registered_socket's; the operations are one-line
// wrappers in the header.
#include <corio/tcp.hpp>

namespace corio {

result<tcp_stream> tcp_stream::start_connect(const net::socket_address& to) {
  // A completion kernel is handed the whole connect (detail::connect); readiness starts it here.
  auto raw = detail::connects_whole() ? net::tcp_stream::open(to.family())
                                      : net::tcp_stream::connect(to);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

std::error_code tcp_stream::connect_status() {
  if (auto ec = raw_.take_error()) return ec;
  auto peer = raw_.peer_address();
  if (peer) return {};
  // No error and no peer yet: still in progress, wait for the next writable edge.
  if (peer.error() == std::errc::not_connected) {
    return std::make_error_code(std::errc::operation_would_block);
  }
  return peer.error();
}

result<tcp_listener> tcp_listener::bind(const net::socket_address& at, int backlog) {
  return bind_raw(at, backlog);
}

result<tcp_listener> tcp_listener::bind(const net::socket_address& at,
                                        const net::bind_options& options) {
  return bind_raw(at, options);
}

}  // namespace corio
