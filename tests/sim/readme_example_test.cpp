// The README's "Testing distributed code with corio::sim" example, compiled and run here so it
// stays true. A request/reply protocol written once (templated on Net), then run on many seeds
// of a lossy simulated network; a failing seed prints the command that replays it.
#include <corio/sim.hpp>
#include <corio/time.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

// --- the protocol: written once -----------------------------------------------------------
template <class Net>
corio::task<> echo_server(corio::net::socket_address at) {
  auto sock = Net::udp_socket::bind(at).value();
  std::array<std::byte, 512> buf;
  for (;;) {
    auto got = co_await sock.recv_from(buf);
    if (!got) co_return;
    (void)co_await sock.send_to(std::span(buf).first(got->first), got->second);
  }
}

// Sends `n` numbered requests, retrying each every 50 ms until its echo arrives.
template <class Net>
corio::task<> client(corio::net::socket_address at, corio::net::socket_address server, int n,
                     int& answered) {
  auto sock = Net::udp_socket::bind(at).value();
  std::array<std::byte, 512> buf;
  for (int i = 0; i < n; ++i) {
    const std::string msg = "request " + std::to_string(i);
    for (;;) {
      (void)co_await sock.send_to(std::as_bytes(std::span(msg)), server);
      auto got = co_await corio::timeout(50ms, sock.recv_from(buf));
      if (got && std::string(reinterpret_cast<const char*>(buf.data()), got->first) == msg) break;
    }
    ++answered;
  }
}

// --- the test: many seeds, each a different network --------------------------------------
bool run_seed(std::uint64_t seed, bool trace) {
  corio::sim::world w(seed);
  w.enable_trace(trace);
  corio::sim::link_faults faults;
  faults.loss = 0.2;
  faults.duplicate = 0.05;
  faults.latency_max = 30ms;
  w.set_default_link(faults);
  const auto server = w.add_host();
  const auto user = w.add_host();
  const corio::net::socket_address server_at{w.address_of(server), 7};
  w.spawn(server, echo_server<corio::sim::network>(server_at));
  int answered = 0;
  w.spawn(user, client<corio::sim::network>({w.address_of(user), 9000}, server_at, 20, answered));
  w.run_for(2s);
  w.partition({server});  // a second of partition: the client must ride it out
  w.run_for(1s);
  w.heal();
  const bool ok = w.run_until([&] { return answered == 20; }, 60s);  // virtual seconds
  if (!ok) {
    std::printf("%s\nseed %llu failed; replay: %s\n", w.trace().c_str(),
                static_cast<unsigned long long>(seed), w.replay_command("sim_test").c_str());
  }
  return ok;
}

TEST(ReadmeExample, EveryRequestIsAnsweredOnEverySeed) {
  const std::uint64_t only = corio::sim::seed_from_env(0);  // CORIO_SIM_SEED=... replays one
  for (std::uint64_t seed = only ? only : 1; seed <= (only ? only : 200); ++seed) {
    ASSERT_TRUE(run_seed(seed, only != 0)) << "seed " << seed;
  }
}
