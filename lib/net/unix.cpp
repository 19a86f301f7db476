// The out-of-line parts of the unix-domain awaitable sockets: making, registering, closing.
#include <corio/unix.hpp>

namespace corio {

// --- unix_stream ------------------------------------------------------------------------------

unix_stream& unix_stream::operator=(unix_stream&& other) noexcept {
  if (this != &other) {
    reg_.reset();  // before the old fd closes
    raw_ = std::move(other.raw_);
    reg_ = std::move(other.reg_);
  }
  return *this;
}

result<unix_stream> unix_stream::from_raw(net::unix_stream raw) {
  auto reg = detail::io_registration::open(raw.native_handle());
  if (!reg) return reg.error();
  unix_stream s;
  s.raw_ = std::move(raw);
  s.reg_ = std::move(*reg);
  return s;
}

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

void unix_stream::close() noexcept {
  reg_.reset();
  raw_.close();
}

// --- unix_listener ----------------------------------------------------------------------------

unix_listener& unix_listener::operator=(unix_listener&& other) noexcept {
  if (this != &other) {
    reg_.reset();
    raw_ = std::move(other.raw_);
    reg_ = std::move(other.reg_);
  }
  return *this;
}

result<unix_listener> unix_listener::bind(const net::socket_address& at, int backlog) {
  auto raw = net::unix_listener::bind(at, backlog);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

result<unix_listener> unix_listener::from_raw(net::unix_listener raw) {
  auto reg = detail::io_registration::open(raw.native_handle());
  if (!reg) return reg.error();
  unix_listener l;
  l.raw_ = std::move(raw);
  l.reg_ = std::move(*reg);
  return l;
}

void unix_listener::close() noexcept {
  reg_.reset();
  raw_.close();
}

// --- unix_datagram ----------------------------------------------------------------------------

unix_datagram& unix_datagram::operator=(unix_datagram&& other) noexcept {
  if (this != &other) {
    reg_.reset();
    raw_ = std::move(other.raw_);
    reg_ = std::move(other.reg_);
  }
  return *this;
}

result<unix_datagram> unix_datagram::bind(const net::socket_address& at) {
  auto raw = net::unix_datagram::bind(at);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
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

result<unix_datagram> unix_datagram::from_raw(net::unix_datagram raw) {
  auto reg = detail::io_registration::open(raw.native_handle());
  if (!reg) return reg.error();
  unix_datagram d;
  d.raw_ = std::move(raw);
  d.reg_ = std::move(*reg);
  return d;
}

void unix_datagram::close() noexcept {
  reg_.reset();
  raw_.close();
}

}  // namespace corio
