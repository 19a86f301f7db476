// "Zero allocations per simulated message in steady state", for streams and datagrams: after a warm-up, echo
// round trips over corio::sim::tcp_stream (under latency jitter and loss, so segments queue,
// merge and retry) make no call to the global operator new. The world's event heap and the
// connection's rings were allocated before counting starts.
//
// This binary replaces the global operator new, so it has no other tests.
#include <corio/sim.hpp>

#include <gtest/gtest.h>

#include <array>

#include "../support/sanitizers.hpp"

#include "../support/allocation_counter.hpp"

using namespace std::chrono_literals;
namespace net = corio::net;
namespace sim = corio::sim;

namespace {

corio::task<> echo(net::socket_address at) {
  auto l = sim::tcp_listener::bind(at).value();
  auto a = co_await l.accept();
  if (!a) co_return;
  std::array<std::byte, 256> buf;
  for (;;) {
    auto n = co_await a->first.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await a->first.write_all(std::span(buf).first(*n))) co_return;
  }
}

corio::task<> client(net::socket_address at, net::ip_address from, int warm, int counted,
                     int& ok, std::size_t& calls) {
  auto s = co_await sim::tcp_stream::connect(at, from);
  if (!s) co_return;
  std::array<std::byte, 100> msg{};
  for (int i = 0; i < warm + counted; ++i) {
    if (i == warm) {
      new_calls = 0;
      counting = true;
    }
    if (!co_await s->write_all(msg) || !co_await s->read_exact(msg)) break;
    if (i >= warm) ++ok;
  }
  counting = false;
  calls = new_calls;
}

TEST(SimTcpAllocation, EchoRoundTripsAllocateNothingPerMessage) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "operator new belongs to the sanitizer";
  sim::world w(1);
  sim::link_faults f;
  f.latency_min = 1ms;
  f.latency_max = 9ms;
  f.loss = 0.05;
  w.set_default_link(f);
  const auto c = w.add_host();
  const auto s = w.add_host();
  const net::socket_address at{w.address_of(s), 7};
  int ok = 0;
  std::size_t calls = 0;
  w.spawn(s, echo(at));
  w.spawn(c, client(at, w.address_of(c), 200, 5000, ok, calls));
  w.run_for(1h);
  EXPECT_EQ(ok, 5000);
  EXPECT_EQ(calls, 0u);
}

// The counter sees what it should: a new connection allocates (its rings), so it is counted.
TEST(SimTcpAllocation, TheCounterSeesAConnectionsRings) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "operator new belongs to the sanitizer";
  sim::world w(2);
  const auto c = w.add_host();
  const auto s = w.add_host();
  const net::socket_address at{w.address_of(s), 7};
  std::size_t calls = 0;
  w.spawn(s, echo(at));
  w.spawn(c, [](net::socket_address at, net::ip_address from, std::size_t& calls) -> corio::task<> {
    new_calls = 0;
    counting = true;
    auto st = co_await sim::tcp_stream::connect(at, from);
    counting = false;
    calls = new_calls;
    EXPECT_TRUE(st);
  }(at, w.address_of(c), calls));
  w.run_for(1s);
  EXPECT_GT(calls, 0u);
}

// The same for datagrams: after a warm-up, request/reply over corio::sim's udp_socket (latency
// jitter, so datagrams queue in the network and are recycled) allocates nothing; the datagram
// pool and the event heap grew during the warm-up. No loss or duplication here: a retry needs
// corio::timeout, whose stop source allocates (README limits), and duplicates would pile up.
corio::task<> udp_echo(net::socket_address at) {
  auto sock = sim::network::udp_socket::bind(at).value();
  std::array<std::byte, 256> buf;
  for (;;) {
    auto got = co_await sock.recv_from(buf);
    if (!got) co_return;
    (void)co_await sock.send_to(std::span(buf).first(got->first), got->second);
  }
}

corio::task<> udp_client(net::socket_address at, net::socket_address server, int warm,
                         int counted, int& answered, std::size_t& calls) {
  auto sock = sim::network::udp_socket::bind(at).value();
  std::array<std::byte, 64> msg{};
  std::array<std::byte, 256> buf;
  for (int i = 0; i < warm + counted; ++i) {
    if (i == warm) {
      new_calls = 0;
      counting = true;
    }
    (void)co_await sock.send_to(msg, server);
    auto got = co_await sock.recv_from(buf);
    if (!got) break;
    if (i >= warm) ++answered;
  }
  counting = false;
  calls = new_calls;
}

TEST(SimUdpAllocation, RequestRepliesAllocateNothingPerDatagram) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "operator new belongs to the sanitizer";
  sim::world w(3);
  sim::link_faults f;
  f.latency_min = 1ms;
  f.latency_max = 9ms;
  w.set_default_link(f);
  const auto c = w.add_host();
  const auto s = w.add_host();
  const net::socket_address server{w.address_of(s), 7};
  int answered = 0;
  std::size_t calls = 0;
  w.spawn(s, udp_echo(server));
  w.spawn(c, udp_client({w.address_of(c), 9000}, server, 300, 3000, answered, calls));
  w.run_for(1h);
  EXPECT_EQ(answered, 3000);
  EXPECT_EQ(calls, 0u);
}

}  // namespace
