// corio::sim: deterministic simulation of distributed code under the ordinary awaitables.
//
// Writing protocol code once for the real and the simulated network: template it on a "Net"
// type that names the socket types (turmoil's approach: same members, different types),
//
//   template <class Net> corio::task<> node(...) { auto s = Net::udp_socket::bind(addr); ... }
//   node<corio::sim::network>(...)   // in a corio::sim::world
//   node<corio::real_network>(...)   // in corio::block_on / a runtime
//
// Streams the same way: Net::tcp_listener::bind(at), co_await l.accept(), and
// co_await Net::connect(to, from) (the simulation needs the connecting host's address, see
// sim/tcp.hpp; the real network ignores it and lets the kernel pick). A handler that only reads
// and writes a stream is simply templated on the stream type (as corio's buffered_reader,
// buffered_writer, split and copy_bidirectional already are), and runs on either.
//
// A template, not a virtual transport interface: the awaitables stay concrete types living in
// the caller's frame (no allocation, no virtual call per operation), and a real build carries no
// trace of the simulator. The cost is that protocol code lives in headers.
#pragma once

#include <corio/sim/tcp.hpp>
#include <corio/sim/udp.hpp>
#include <corio/sim/world.hpp>
#include <corio/tcp.hpp>
#include <corio/udp.hpp>

namespace corio {

// try_send_to: a datagram sent without suspending (what a protocol's message handler wants);
// a full socket buffer drops it, like loss on the way.
namespace sim {
struct network {
  using udp_socket = sim::udp_socket;
  using tcp_stream = sim::tcp_stream;
  using tcp_listener = sim::tcp_listener;
  static result<std::size_t> try_send_to(udp_socket& s, std::span<const std::byte> buf,
                                         const net::socket_address& to) {
    return s.try_send_to(buf, to);
  }
  // co_await → result<tcp_stream>, from the host whose address is `from`.
  static auto connect(const net::socket_address& to, const net::ip_address& from) {
    return tcp_stream::connect(to, from);
  }
};
}  // namespace sim

struct real_network {
  using udp_socket = corio::udp_socket;
  using tcp_stream = corio::tcp_stream;
  using tcp_listener = corio::tcp_listener;
  static result<std::size_t> try_send_to(udp_socket& s, std::span<const std::byte> buf,
                                         const net::socket_address& to) {
    return s.raw().send_to(buf, to);
  }
  // The kernel picks the source address by its routes: `from` is for the simulation's sake.
  static auto connect(const net::socket_address& to, const net::ip_address& /*from*/) {
    return tcp_stream::connect(to);
  }
};

}  // namespace corio
