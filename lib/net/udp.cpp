// The out-of-line parts of corio::udp_socket: making, registering and closing it.
#include <corio/udp.hpp>

namespace corio {

udp_socket& udp_socket::operator=(udp_socket&& other) noexcept {
  if (this != &other) {
    reg_.reset();  // before the old fd closes
    raw_ = std::move(other.raw_);
    reg_ = std::move(other.reg_);
  }
  return *this;
}

result<udp_socket> udp_socket::bind(const net::socket_address& at) {
  auto raw = net::udp_socket::bind(at);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

result<udp_socket> udp_socket::bind(const net::socket_address& at,
                                    const net::bind_options& options) {
  auto raw = net::udp_socket::bind(at, options);
  if (!raw) return raw.error();
  return from_raw(std::move(*raw));
}

result<udp_socket> udp_socket::from_raw(net::udp_socket raw) {
  auto reg = detail::io_registration::open(raw.native_handle());
  if (!reg) return reg.error();
  udp_socket s;
  s.raw_ = std::move(raw);
  s.reg_ = std::move(*reg);
  return s;
}

void udp_socket::close() noexcept {
  reg_.reset();
  raw_.close();
}

}  // namespace corio
