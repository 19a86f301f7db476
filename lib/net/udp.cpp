// The out-of-line parts of corio::udp_socket: binding it (registration, move and close are
// detail::registered_socket's).
#include <corio/udp.hpp>

namespace corio {

result<udp_socket> udp_socket::bind(const net::socket_address& at) {
  return bind_raw(at);
}

result<udp_socket> udp_socket::bind(const net::socket_address& at,
                                    const net::bind_options& options) {
  return bind_raw(at, options);
}

}  // namespace corio
