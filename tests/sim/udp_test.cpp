// The simulated datagram network: delivery, each fault kind, crash, and determinism of traces.
#include <corio/sim.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <corio/time.hpp>

using namespace std::chrono_literals;
using corio::sim::world;
namespace net = corio::net;

namespace {

constexpr std::uint16_t port = 7000;

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Sends "0".."n-1" every `every`, from host a to host b.
corio::task<> sender(net::socket_address from, net::socket_address to, int n,
                     std::chrono::milliseconds every) {
  auto s = corio::sim::udp_socket::bind(from).value();
  for (int i = 0; i < n; ++i) {
    const std::string msg = std::to_string(i);
    (void)co_await s.send_to(bytes_of(msg), to);  // a datagram may be dropped: not an error here
    (void)co_await corio::sleep_for(every);
  }
}

corio::task<> receiver(net::socket_address at, std::vector<int>& got) {
  auto s = corio::sim::udp_socket::bind(at).value();
  std::array<std::byte, 64> buf;
  while (true) {
    auto r = co_await s.recv_from(buf);
    if (!r) co_return;
    got.push_back(std::stoi(std::string(reinterpret_cast<const char*>(buf.data()), r->first)));
  }
}

struct pair_world {
  explicit pair_world(std::uint64_t seed, corio::sim::link_faults f = {}) : w(seed) {
    w.set_default_link(f);
    a = w.add_host();
    b = w.add_host();
  }
  net::socket_address addr(corio::sim::host_id h) { return {w.address_of(h), port}; }
  void run(int n, std::chrono::milliseconds every = 10ms) {
    w.spawn(b, receiver(addr(b), got));
    w.spawn(a, sender(addr(a), addr(b), n, every));
    w.run_for(every * n + 2s);
  }
  world w;
  corio::sim::host_id a, b;
  std::vector<int> got;
};

TEST(SimUdp, DeliversInOrderWithoutFaultsAndFixedLatency) {
  corio::sim::link_faults f;
  f.latency_min = f.latency_max = 3ms;
  pair_world p(1, f);
  p.run(100);
  ASSERT_EQ(p.got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.got[i], i);
}

TEST(SimUdp, LatencyIsVirtualAndWithinItsBounds) {
  world w(2);
  corio::sim::link_faults f;
  f.latency_min = 40ms;
  f.latency_max = 60ms;
  w.set_default_link(f);
  auto a = w.add_host();
  auto b = w.add_host();
  std::chrono::nanoseconds arrived{};
  w.spawn(b, [](net::socket_address at, std::chrono::nanoseconds& out, world& ww) -> corio::task<> {
    auto s = corio::sim::udp_socket::bind(at).value();
    std::array<std::byte, 8> buf;
    if (co_await s.recv_from(buf)) out = ww.now();
  }({w.address_of(b), port}, arrived, w));
  w.spawn(a, sender({w.address_of(a), port}, {w.address_of(b), port}, 1, 1ms));
  w.run_for(1s);
  EXPECT_GE(arrived, 40ms);
  EXPECT_LE(arrived, 60ms);
}

TEST(SimUdp, LossDropsAboutItsShare) {
  corio::sim::link_faults f;
  f.loss = 0.3;
  pair_world p(3, f);
  p.run(1000, 1ms);
  EXPECT_GT(p.got.size(), 600u);
  EXPECT_LT(p.got.size(), 800u);
  EXPECT_NE(p.w.trace_digest(), 0u);
}

TEST(SimUdp, DuplicationDeliversSomeTwice) {
  corio::sim::link_faults f;
  f.duplicate = 0.2;
  pair_world p(4, f);
  p.run(500, 1ms);
  EXPECT_GT(p.got.size(), 550u);
  EXPECT_LT(p.got.size(), 650u);
}

TEST(SimUdp, ReorderingLetsLaterDatagramsOvertake) {
  corio::sim::link_faults f;
  f.reorder = 0.1;
  f.reorder_delay = 30ms;
  pair_world p(5, f);
  p.run(300, 1ms);
  ASSERT_EQ(p.got.size(), 300u);
  int inversions = 0;
  for (std::size_t i = 1; i < p.got.size(); ++i) inversions += p.got[i] < p.got[i - 1];
  EXPECT_GT(inversions, 5);
}

TEST(SimUdp, PartitionDropsBothWaysUntilHealed) {
  pair_world p(6);
  p.w.spawn(p.b, receiver(p.addr(p.b), p.got));
  p.w.spawn(p.a, sender(p.addr(p.a), p.addr(p.b), 300, 10ms));
  p.w.run_for(1s);
  const auto before = p.got.size();
  EXPECT_GE(before, 95u);
  p.w.partition({p.a});
  p.w.run_for(1s);
  EXPECT_LE(p.got.size(), before + 1);  // at most one already in flight... which is dropped too
  p.w.heal();
  p.w.run_for(1s);
  EXPECT_GE(p.got.size(), before + 95);
}

TEST(SimUdp, CrashOfTheReceiverDropsAndRestartReceivesAgain) {
  world w(7);
  auto a = w.add_host();
  std::vector<int> got;
  auto b = w.add_host([&]() -> corio::task<> { co_await receiver({w.address_of(1), port}, got); });
  w.spawn(a, sender({w.address_of(a), port}, {w.address_of(b), port}, 300, 10ms));
  w.run_for(1s);
  const auto before = got.size();
  w.crash(b);
  w.run_for(1s);
  EXPECT_EQ(got.size(), before);
  w.restart(b);
  w.run_for(1s);
  EXPECT_GE(got.size(), before + 90);
}

TEST(SimUdp, BindRulesAndErrors) {
  world w(8);
  auto a = w.add_host();
  net::socket_address at{w.address_of(a), port};
  auto s = corio::sim::udp_socket::bind(at);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->local_address().value(), at);
  EXPECT_EQ(corio::sim::udp_socket::bind(at).error(), std::errc::address_in_use);
  EXPECT_EQ(corio::sim::udp_socket::bind({net::ip_address::v4({10, 0, 0, 9}), port}).error(),
            std::errc::address_not_available);
  auto eph = corio::sim::udp_socket::bind({w.address_of(a), 0});
  ASSERT_TRUE(eph);
  EXPECT_GE(eph->local_address()->port(), 49152);
  s->close();
  EXPECT_TRUE(corio::sim::udp_socket::bind(at));
}

TEST(SimUdp, RecvFromIsCancellable) {
  world w(9);
  auto a = w.add_host();
  std::error_code ec;
  w.spawn(a, [](net::socket_address at, std::error_code& out) -> corio::task<> {
    auto s = corio::sim::udp_socket::bind(at).value();
    std::array<std::byte, 8> buf;
    auto r = co_await corio::timeout(100ms, s.recv_from(buf));
    out = r.error();
  }({w.address_of(a), port}, ec));
  w.run_for(1s);
  EXPECT_EQ(ec, std::errc::timed_out);
}

// A busy little system: three hosts pinging each other under every fault.
std::string chatter(std::uint64_t seed, bool trace) {
  world w(seed);
  w.enable_trace(trace);
  corio::sim::link_faults f;
  f.loss = 0.1;
  f.duplicate = 0.05;
  f.reorder = 0.05;
  f.latency_max = 20ms;
  w.set_default_link(f);
  std::vector<int> got[3];
  for (int i = 0; i < 3; ++i) {
    auto h = w.add_host();
    w.spawn(h, receiver({w.address_of(h), port}, got[i]));
  }
  for (int i = 0; i < 3; ++i) {
    w.spawn(i, sender({w.address_of(i), port + 1}, {w.address_of((i + 1) % 3), port}, 200, 3ms));
  }
  w.run_for(500ms);
  w.partition({0});
  w.run_for(300ms);
  w.heal();
  w.crash(2);
  w.run_for(300ms);
  std::string result = std::to_string(w.trace_digest()) + "\n" + w.trace();
  for (auto& g : got) {
    for (int v : g) result += std::to_string(v) + ",";
    result += "\n";
  }
  return result;
}

TEST(SimDeterminism, SameSeedSameTraceDifferentSeedDifferentTrace) {
  const std::string one = chatter(42, true);
  const std::string two = chatter(42, true);
  EXPECT_EQ(one, two);
  EXPECT_NE(one, chatter(43, true));
  EXPECT_NE(one.find("drop"), std::string::npos);
  EXPECT_NE(one.find("deliver"), std::string::npos);
  EXPECT_NE(one.find("crash"), std::string::npos);
  EXPECT_NE(one.find("timer"), std::string::npos);
  EXPECT_NE(one.find("duplicate"), std::string::npos);
  // The digest does not depend on whether the text was kept.
  EXPECT_EQ(one.substr(0, one.find('\n')), chatter(42, false).substr(0, one.find('\n')));
}

}  // namespace
