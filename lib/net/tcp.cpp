// The out-of-line parts of corio::tcp_stream and corio::tcp_listener: making, registering and
// closing them. The operations themselves are one-line wrappers in the header.
#include <corio/tcp.hpp>

namespace corio {

tcp_stream& tcp_stream::operator=(tcp_stream&& other) noexcept {
  if (this != &other) {
    reg_.reset();  // before the old fd closes (see the member order)
    raw_ = std::move(other.raw_);
    reg_ = std::move(other.reg_);
  }
  return *this;
}

result<tcp_stream> tcp_stream::from_raw(net::tcp_stream raw) {
  auto reg = detail::io_registration::open(raw.native_handle());
  if (!reg) return reg.error();
  tcp_stream s;
  s.raw_ = std::move(raw);
  s.reg_ = std::move(*reg);
  return s;
}

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

net::tcp_stream tcp_stream::release() noexcept {
  reg_.hand_over();
  return std::move(raw_);
}

void tcp_stream::close() noexcept {
  reg_.reset();
  raw_.close();
}

tcp_listener& tcp_listener::operator=(tcp_listener&& other) noexcept {
  if (this != &other) {
    reg_.reset();
    raw_ = std::move(other.raw_);
    reg_ = std::move(other.reg_);
  }
  return *this;
}

result<tcp_listener> tcp_listener::bind(const net::socket_address& at, int backlog) {
  auto raw = net::tcp_listener::bind(at, backlog);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

result<tcp_listener> tcp_listener::bind(const net::socket_address& at,
                                        const net::bind_options& options) {
  auto raw = net::tcp_listener::bind(at, options);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

result<tcp_listener> tcp_listener::from_raw(net::tcp_listener raw) {
  auto reg = detail::io_registration::open(raw.native_handle());
  if (!reg) return reg.error();
  tcp_listener l;
  l.raw_ = std::move(raw);
  l.reg_ = std::move(*reg);
  return l;
}

void tcp_listener::close() noexcept {
  reg_.reset();
  raw_.close();
}

}  // namespace corio
