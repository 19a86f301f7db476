// The channel with several receivers sharing one queue.
#include <corio/sync/channel.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "sync_support.hpp"

namespace {

using namespace sync_test;

corio::task<int> drain(corio::channel_receiver<int> rx, std::vector<int>& seen) {
  int n = 0;
  while (auto v = co_await rx.recv()) {
    seen.push_back(*v);
    ++n;
    co_await yield_now{};  // lets the other consumer take its turn
  }
  co_return n;
}

TEST(mpmc, two_receivers_share_the_queue_and_both_see_the_end) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    std::vector<int> a, b;
    auto ca = corio::spawn(drain(rx, a));
    auto cb = corio::spawn(drain(std::move(rx), b));
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(co_await tx.send(i));
    tx.reset();
    const int na = co_await ca;
    const int nb = co_await cb;
    EXPECT_EQ(na + nb, 100);
    EXPECT_GT(na, 0);
    EXPECT_GT(nb, 0);
    std::vector<int> all(a);
    all.insert(all.end(), b.begin(), b.end());
    std::sort(all.begin(), all.end());
    for (int i = 0; i < 100; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], i);
  }());
}

TEST(mpmc, dropping_one_receiver_keeps_the_channel_open) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    {
      auto other = rx;
      (void)other;
    }
    EXPECT_TRUE(tx.try_send(1));
    rx.reset();
    EXPECT_TRUE(is_closed(tx.try_send(2).error()));
    co_return;
  }());
}

TEST(mpmc, a_cancelled_waiting_receiver_passes_the_message_on) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    auto rx2 = rx;
    auto first = corio::spawn([](corio::channel_receiver<int>& r) -> corio::task<std::error_code> {
      co_return (co_await r.recv()).error();
    }(rx));
    auto second = corio::spawn([](corio::channel_receiver<int>& r) -> corio::task<int> {
      auto v = co_await r.recv();
      co_return v ? *v : -1;
    }(rx2));
    co_await yield_times(3);  // both wait, first ahead
    first.request_stop();
    EXPECT_TRUE(is_canceled(co_await first));  // withdrawn from the queue of waiters
    EXPECT_TRUE(tx.try_send(7));
    EXPECT_EQ(co_await second, 7);
  }());
}

TEST(mpmc, a_cancelled_receiver_racing_a_send_on_another_thread_loses_nothing) {
  constexpr int rounds = 300;
  auto [tx, rx] = corio::make_unbounded_channel<int>();
  std::atomic<int> got{0};
  corio::runtime rt(two_workers());
  std::thread producer([tx = std::move(tx)]() mutable {
    for (int i = 0; i < rounds; ++i) EXPECT_TRUE(tx.blocking_send(i));
  });
  // Worker 0: receives, cancelling a second pending receiver each round; worker 1 consumes.
  auto h0 = rt.spawn_on(0, [](corio::channel_receiver<int> r, std::atomic<int>& got)
                               -> corio::task<> {
    for (;;) {
      auto canceled = corio::spawn([](corio::channel_receiver<int>& r,
                                      std::atomic<int>& got) -> corio::task<> {
        if (auto v = co_await r.recv()) got.fetch_add(1);
      }(r, got));
      co_await yield_now{};
      canceled.request_stop();
      co_await canceled;
      auto v = co_await r.recv();
      if (!v) co_return;
      got.fetch_add(1);
    }
  }(rx, got));
  auto h1 = rt.spawn_on(1, [](corio::channel_receiver<int> r, std::atomic<int>& got)
                               -> corio::task<> {
    while (auto v = co_await r.recv()) got.fetch_add(1);
  }(std::move(rx), got));
  producer.join();
  h0.join();
  h1.join();
  EXPECT_EQ(got.load(), rounds);
}

TEST(mpmc, two_workers_share_a_job_queue) {
  constexpr int jobs = 2000;
  auto [tx, rx] = corio::make_channel<int>(16);
  std::vector<std::atomic<int>> taken(jobs);
  corio::runtime rt(two_workers());
  auto worker = [](corio::channel_receiver<int> r, std::vector<std::atomic<int>>& taken)
      -> corio::task<int> {
    int n = 0;
    while (auto v = co_await r.recv()) {
      taken[static_cast<std::size_t>(*v)].fetch_add(1);
      ++n;
    }
    co_return n;
  };
  auto w0 = rt.spawn_on(0, worker(rx, taken));
  auto w1 = rt.spawn_on(1, worker(std::move(rx), taken));
  auto p = rt.spawn_on(0, [](corio::channel_sender<int> s) -> corio::task<> {
    for (int i = 0; i < jobs; ++i) EXPECT_TRUE(co_await s.send(i));
  }(std::move(tx)));
  p.join();
  const int n0 = w0.join();
  const int n1 = w1.join();
  EXPECT_EQ(n0 + n1, jobs);
  for (auto& t : taken) EXPECT_EQ(t.load(), 1);
}

}  // namespace
