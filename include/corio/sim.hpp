// corio::sim: deterministic simulation of distributed code under the ordinary awaitables.
//
// Writing protocol code once for the real and the simulated network: template it on a "Net"
// type that names the socket types (turmoil's approach: same members, different types),
//
//   template <class Net> corio::task<> node(...) { auto s = Net::udp_socket::bind(addr); ... }
//   node<corio::sim::network>(...)   // in a corio::sim::world
//   node<corio::real_network>(...)   // in corio::block_on / a runtime
//
// A template, not a virtual transport interface: the awaitables stay concrete types living in
// the caller's frame (no allocation, no virtual call per operation), and a real build carries no
// trace of the simulator. The cost is that protocol code lives in headers.
#pragma once

#include <corio/sim/udp.hpp>
#include <corio/sim/world.hpp>
#include <corio/udp.hpp>

namespace corio {

// try_send_to: a datagram sent without suspending (what a protocol's message handler wants);
// a full socket buffer drops it, like loss on the way.
namespace sim {
struct network {
  using udp_socket = sim::udp_socket;
  static result<std::size_t> try_send_to(udp_socket& s, std::span<const std::byte> buf,
                                         const net::socket_address& to) {
    return s.try_send_to(buf, to);
  }
};
}  // namespace sim

struct real_network {
  using udp_socket = corio::udp_socket;
  static result<std::size_t> try_send_to(udp_socket& s, std::span<const std::byte> buf,
                                         const net::socket_address& to) {
    return s.raw().send_to(buf, to);
  }
};

}  // namespace corio
