// corio::runtime: N worker threads. Every wait here is on a join, a channel or a barrier-like
// count, never a sleep; the sleeps inside tasks are the load (random delays), not
// synchronisation.
#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>

#include <gtest/gtest.h>

#include "net/support.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Every test runs on every built backend: the workers' reactors are that backend.
class runtime : public corio::test::backend_test {
 protected:
  corio::runtime_options threads(unsigned n) const {
    corio::runtime_options o;
    o.backend = GetParam();
    o.threads = n;
    return o;
  }
};

struct where {
  std::size_t index;
  std::thread::id thread;
};

corio::task<where> here() { co_return where{corio::runtime::current_index(), std::this_thread::get_id()}; }

// The worker threads' ids, learned through spawn_on.
std::vector<std::thread::id> worker_ids(corio::runtime& rt) {
  std::vector<std::thread::id> ids;
  for (std::size_t i = 0; i < rt.size(); ++i) ids.push_back(rt.spawn_on(i, here()).join().thread);
  return ids;
}

TEST_P(runtime, starts_the_requested_number_of_distinct_workers) {
  corio::runtime rt(threads(3));
  ASSERT_EQ(rt.size(), 3u);
  auto ids = worker_ids(rt);
  EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), 3u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), std::this_thread::get_id()), 0);
  EXPECT_EQ(corio::runtime::current(), nullptr);
  corio::runtime defaults(threads(0));
  EXPECT_EQ(defaults.size(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST_P(runtime, spawn_on_runs_on_that_worker) {
  corio::runtime rt(threads(4));
  for (std::size_t i = 0; i < rt.size(); ++i) EXPECT_EQ(rt.spawn_on(i, here()).join().index, i);
  EXPECT_THROW((void)rt.spawn_on(4, here()), std::out_of_range);
}

TEST_P(runtime, spawn_from_plain_threads_reaches_every_worker) {
  corio::runtime rt(threads(4));
  static constexpr int per_thread = 500;
  std::array<std::atomic<int>, 4> ran{};
  auto count = [&]() -> corio::task<int> {
    ran[corio::runtime::current_index()].fetch_add(1);
    co_return 1;
  };
  std::vector<std::thread> spawners;
  std::atomic<int> sum{0};
  for (int t = 0; t < 4; ++t) {
    spawners.emplace_back([&] {
      std::vector<corio::join_handle<int>> hs;
      for (int k = 0; k < per_thread; ++k) hs.push_back(rt.spawn(count()));
      for (auto& h : hs) sum += h.join();
    });
  }
  for (auto& t : spawners) t.join();
  EXPECT_EQ(sum.load(), 4 * per_thread);
  for (auto& r : ran) EXPECT_GT(r.load(), 0);  // round-robin
}

TEST_P(runtime, switch_to_lands_on_the_right_thread) {
  corio::runtime rt(threads(3));
  const auto ids = worker_ids(rt);
  auto tour = [&]() -> corio::task<int> {
    int checked = 0;
    for (std::size_t i : {2u, 0u, 1u, 1u, 2u}) {
      co_await corio::switch_to(rt.worker(i));
      EXPECT_EQ(corio::runtime::current_index(), i);
      EXPECT_EQ(std::this_thread::get_id(), ids[i]);
      (void)co_await corio::sleep_for(1ms);  // a timer on the new worker's wheel
      EXPECT_EQ(std::this_thread::get_id(), ids[i]);
      ++checked;
    }
    co_return checked;  // finishes away from home: the frame is sent back to be freed
  };
  EXPECT_EQ(rt.spawn_on(0, tour()).join(), 5);
  EXPECT_EQ(rt.block_on(tour()), 5);
}

TEST_P(runtime, join_across_workers_resumes_the_joiner_at_home) {
  corio::runtime rt(threads(2));
  auto child = []() -> corio::task<int> {
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    co_return static_cast<int>(corio::runtime::current_index());
  };
  auto parent = [&]() -> corio::task<int> {
    int total = 0;
    for (int k = 0; k < 200; ++k) {
      total += co_await corio::spawn_on(1, child());
      EXPECT_EQ(corio::runtime::current_index(), 0u);
    }
    co_return total;
  };
  EXPECT_EQ(rt.spawn_on(0, parent()).join(), 200);
}

TEST_P(runtime, block_on_rethrows_and_is_refused_on_a_worker) {
  corio::runtime rt(threads(2));
  auto boom = []() -> corio::task<> {
    throw std::runtime_error("boom");
    co_return;
  };
  EXPECT_THROW(rt.block_on(boom()), std::runtime_error);
  auto nested = [&]() -> corio::task<bool> {
    try {
      rt.block_on(boom());
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt.block_on(nested()));
  auto outside = []() -> corio::task<> { co_return; };
  EXPECT_THROW((void)corio::spawn_on(0, outside()), std::logic_error);
}

// Producers on every worker and on plain threads into one bounded channel, 120,000 messages;
// the consumer checks the exact count and per-producer order.
TEST_P(runtime, channel_stress_across_workers_and_plain_threads) {
  static constexpr unsigned workers = 4;
  static constexpr int plain = 2;
  static constexpr int per_producer = 20'000;
  static constexpr int producers = static_cast<int>(workers) + plain;
  struct msg {
    int producer;
    int seq;
  };
  corio::runtime rt(threads(workers));
  auto [tx, rx] = corio::make_channel<msg>(64);

  // Random, bounded delays; now and then a producer moves to another worker mid-stream, so
  // its sends (and the wakeups they cause) come from changing threads.
  auto produce = [](corio::runtime& on, corio::channel_sender<msg> out, int id) -> corio::task<> {
    std::minstd_rand rng(static_cast<unsigned>(id));
    for (int k = 0; k < per_producer; ++k) {
      if (!co_await out.send(msg{id, k})) co_return;
      const auto r = rng() % 1000;
      if (r == 0) {
        (void)co_await corio::sleep_for(1ms);
      } else if (r < 20) {
        co_await corio::yield();
      } else if (r < 23) {
        co_await corio::switch_to(on.worker(rng() % on.size()));
      }
    }
  };
  auto consume = [](corio::channel_receiver<msg> in) -> corio::task<long> {
    std::array<int, producers> next{};
    long received = 0;
    while (auto m = co_await in.recv()) {
      EXPECT_EQ(m->seq, next[m->producer]) << "producer " << m->producer;
      next[m->producer] = m->seq + 1;
      ++received;
    }
    for (int n : next) EXPECT_EQ(n, per_producer);
    co_return received;
  };

  auto consumer = rt.spawn_on(0, consume(std::move(rx)));
  std::vector<corio::join_handle<>> hs;
  for (unsigned i = 0; i < workers; ++i) hs.push_back(rt.spawn_on(i, produce(rt, tx, static_cast<int>(i))));
  std::vector<std::thread> threads_;
  for (int p = 0; p < plain; ++p) {
    threads_.emplace_back([out = tx, id = static_cast<int>(workers) + p]() mutable {
      std::minstd_rand rng(static_cast<unsigned>(id));
      for (int k = 0; k < per_producer; ++k) {
        ASSERT_TRUE(out.blocking_send(msg{id, k}));
        if (rng() % 4000 == 0) std::this_thread::sleep_for(200us);  // a delay, not a sync
      }
    });
  }
  tx.reset();
  for (auto& h : hs) h.join();
  for (auto& t : threads_) t.join();
  EXPECT_EQ(consumer.join(), long{producers} * per_producer);
}

// Cross-thread wakeups one at a time: a lost wakeup would hang here (the ctest timeout).
TEST_P(runtime, ping_pong_between_workers_never_loses_a_wakeup) {
  corio::runtime rt(threads(2));
  auto [ping_tx, ping_rx] = corio::make_channel<int>(1);
  auto [pong_tx, pong_rx] = corio::make_channel<int>(1);
  static constexpr int rounds = 20'000;
  auto ponger = [](corio::channel_receiver<int> in, corio::channel_sender<int> out) -> corio::task<> {
    while (auto v = co_await in.recv()) {
      if (!co_await out.send(*v + 1)) co_return;
    }
  };
  auto pinger = [](corio::channel_sender<int> out, corio::channel_receiver<int> in) -> corio::task<int> {
    int v = 0;
    for (int k = 0; k < rounds; ++k) {
      if (!co_await out.send(v)) co_return -1;
      v = (co_await in.recv()).value();
    }
    co_return v;
  };
  auto b = rt.spawn_on(1, ponger(std::move(ping_rx), std::move(pong_tx)));
  EXPECT_EQ(rt.spawn_on(0, pinger(std::move(ping_tx), std::move(pong_rx))).join(), rounds);
  b.join();
}

struct on_destroy {
  std::atomic<int>* destroyed;
  std::atomic<int>* on_wrong_thread;
  std::thread::id home;
  ~on_destroy() {
    if (!destroyed) return;
    destroyed->fetch_add(1);
    if (std::this_thread::get_id() != home) on_wrong_thread->fetch_add(1);
  }
};

// Shutdown with a sleep, an accept, a read and a channel receive pending on every worker;
// half the tasks unwind when cancelled, the other half ignore it and are destroyed after the
// grace period, each on its own worker's thread.
TEST_P(runtime, stop_with_pending_io_and_sleeps_on_every_worker) {
  static constexpr unsigned n = 3;
  std::atomic<int> unwound{0}, destroyed{0}, wrong_thread{0};
  auto [tx, rx_all] = corio::make_unbounded_channel<int>();  // every task reports it started
  auto [never_tx, never_rx] = corio::make_unbounded_channel<int>();
  std::vector<corio::join_handle<>> handles;
  {
    corio::runtime_options o = threads(n);
    o.shutdown_grace = 200ms;
    corio::runtime rt(o);
    auto waits = [&](int kind, bool stubborn, corio::channel_sender<int> ready) -> corio::task<> {
      on_destroy guard{&destroyed, &wrong_thread, std::this_thread::get_id()};
      auto listener = corio::tcp_listener::bind({corio::net::ip_address::loopback_v4(), 0}).value();
      auto client = co_await corio::tcp_stream::connect(listener.local_address().value());
      auto accepted = co_await listener.accept();  // the client's connection
      (void)co_await ready.send(kind);
      std::array<std::byte, 16> buf;
      // A stubborn task must still be waiting when the grace period ends, however fast the
      // machine: it spins for a time far past the grace (and the test's 2 s limit), not a
      // count of rounds that a quiet core could finish within 200 ms.
      const auto give_up = std::chrono::steady_clock::now() + 30s;
      for (int round = 0; stubborn ? std::chrono::steady_clock::now() < give_up : round < 1;
           ++round) {
        switch (kind) {
          case 0: (void)co_await corio::sleep_for(1h); break;
          case 1: (void)co_await listener.accept(); break;
          case 2: (void)co_await client->read(buf); break;
          default: (void)co_await corio::sleep_for(10min); break;
        }
        if (stubborn) co_await corio::yield();  // ignores the cancel: spins until destroyed
      }
      unwound.fetch_add(1);
      (void)accepted;
    };
    auto channel_wait = [&](corio::channel_receiver<int> rx, corio::channel_sender<int> ready) -> corio::task<> {
      on_destroy guard{&destroyed, &wrong_thread, std::this_thread::get_id()};
      (void)co_await ready.send(9);
      auto got = co_await rx.recv();
      EXPECT_FALSE(got);
      unwound.fetch_add(1);
    };
    int expected = 0;
    for (unsigned w = 0; w < n; ++w) {
      for (int kind = 0; kind < 3; ++kind) {
        for (bool stubborn : {false, true}) {
          handles.push_back(rt.spawn_on(w, waits(kind, stubborn, tx)));
          ++expected;
        }
      }
    }
    handles.push_back(rt.spawn_on(0, channel_wait(std::move(never_rx), tx)));
    ++expected;
    // Wait until every task reached its wait.
    auto count_ready = [](corio::channel_receiver<int> rx, int want) -> corio::task<int> {
      int got = 0;
      // No co_await inside `&&`: g++ 12 evaluates it even when the left side is false.
      while (got < want) {
        if (!co_await rx.recv()) break;
        ++got;
      }
      co_return got;
    };
    ASSERT_EQ(rt.spawn_on(1, count_ready(std::move(rx_all), expected)).join(), expected);
    const auto t0 = std::chrono::steady_clock::now();
    rt.stop();
    rt.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_EQ(destroyed.load(), expected);
    EXPECT_EQ(unwound.load(), 3 * static_cast<int>(n) + 1);  // the non-stubborn ones
    EXPECT_EQ(wrong_thread.load(), 0);
    // Spawning into a stopped runtime hands back a cancelled handle.
    auto late = []() -> corio::task<> { co_return; };
    auto h = rt.spawn(late());
    try {
      h.join();
      ADD_FAILURE() << "a spawn after stop ran";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::operation_canceled);
    }
  }
  for (auto& h : handles) EXPECT_TRUE(h.is_finished());
}

TEST_P(runtime, destroying_a_runtime_with_tasks_pending_is_safe) {
  std::atomic<int> destroyed{0}, wrong_thread{0};
  {
    corio::runtime rt(threads(2));
    auto sleeper = [&]() -> corio::task<> {
      on_destroy guard{&destroyed, &wrong_thread, std::this_thread::get_id()};
      for (;;) {
        (void)co_await corio::sleep_for(1h);
        co_await corio::yield();  // ignores cancellation
      }
    };
    auto wanderer = [&](corio::runtime& r) -> corio::task<> {
      on_destroy guard{&destroyed, &wrong_thread, std::this_thread::get_id()};
      co_await corio::switch_to(r.worker(1));
      guard.home = std::this_thread::get_id();  // now lives on worker 1's wheel
      for (;;) {
        (void)co_await corio::sleep_for(1h);
        co_await corio::yield();  // a stopped task's sleep no longer suspends: do, or spin
      }
    };
    for (int k = 0; k < 10; ++k) rt.spawn_on(k % 2, sleeper()).detach();
    // Made on worker 0, suspended on worker 1: destroyed by worker 0 while 1 is idle.
    auto probe = rt.spawn_on(0, wanderer(rt));
    (void)rt.spawn_on(1, here()).join();  // both workers have run their queues once
    (void)rt.spawn_on(0, here()).join();
    (void)probe;
  }
  EXPECT_EQ(destroyed.load(), 11);
  // At most the wanderer (if it got to worker 1 in time): freed by its owner, as documented.
  EXPECT_LE(wrong_thread.load(), 1);
}

// Sharded accept: each worker binds its own SO_REUSEPORT listener on one port.
TEST_P(runtime, reuse_port_listeners_on_two_workers_both_accept) {
  corio::runtime rt(threads(2));
  static constexpr int connections = 64;
  auto accepted = corio::make_unbounded_channel<std::size_t>();  // no structured binding:
  auto& acc_tx = accepted.first;  // clang 14 cannot capture one
  auto& acc_rx = accepted.second;
  corio::net::bind_options shared;
  shared.reuse_port = true;
  auto listen = [&](corio::tcp_listener l, corio::channel_sender<std::size_t> out) -> corio::task<> {
    while (auto got = co_await l.accept()) {
      if (!co_await out.send(corio::runtime::current_index())) break;
    }
  };
  auto bind_on = [&](corio::net::socket_address at) -> corio::task<corio::net::socket_address> {
    auto l = corio::tcp_listener::bind(at, shared).value();
    auto bound = l.local_address().value();
    corio::spawn(listen(std::move(l), acc_tx)).detach();
    co_return bound;
  };
  const auto port = rt.spawn_on(0, bind_on({corio::net::ip_address::loopback_v4(), 0})).join();
  ASSERT_EQ(rt.spawn_on(1, bind_on(port)).join().port(), port.port());
  acc_tx.reset();
  auto clients = [&]() -> corio::task<std::array<int, 2>> {
    std::vector<corio::tcp_stream> open;
    for (int k = 0; k < connections; ++k) open.push_back((co_await corio::tcp_stream::connect(port)).value());
    std::array<int, 2> per_worker{};
    for (int k = 0; k < connections; ++k) ++per_worker.at((co_await acc_rx.recv()).value());
    co_return per_worker;
  };
  const auto per_worker = rt.spawn_on(0, clients()).join();
  EXPECT_EQ(per_worker[0] + per_worker[1], connections);
  EXPECT_GT(per_worker[0], 0);
  EXPECT_GT(per_worker[1], 0);
}

// The other way: one acceptor hands each connection, as a raw stream, to the next worker.
TEST_P(runtime, one_acceptor_hands_connections_to_workers) {
  corio::runtime rt(threads(3));
  auto serve_one = [](corio::net::tcp_stream raw) -> corio::task<std::size_t> {
    auto s = corio::tcp_stream::from_raw(std::move(raw)).value();  // registers here
    std::array<std::byte, 1> b{std::byte{static_cast<unsigned char>(corio::runtime::current_index())}};
    (void)co_await s.write_all(b);
    co_return corio::runtime::current_index();
  };
  auto scenario = [&]() -> corio::task<std::set<std::size_t>> {
    auto l = corio::tcp_listener::bind({corio::net::ip_address::loopback_v4(), 0}).value();
    std::set<std::size_t> seen;
    for (std::size_t k = 0; k < 6; ++k) {
      auto c = (co_await corio::tcp_stream::connect(l.local_address().value())).value();
      auto got = (co_await l.accept()).value();
      auto h = corio::spawn_on(k % 3, serve_one(got.first.release()));
      std::array<std::byte, 1> b{};
      EXPECT_TRUE(co_await c.read_exact(b));
      const auto index = co_await h;
      EXPECT_EQ(static_cast<std::size_t>(b[0]), index);
      seen.insert(index);
    }
    co_return seen;
  };
  EXPECT_EQ(rt.spawn_on(0, scenario()).join(), (std::set<std::size_t>{0, 1, 2}));
}

CORIO_INSTANTIATE_BACKENDS(runtime);

}  // namespace
