// The semaphore and the mutex built on it.
#include <corio/sync/mutex.hpp>
#include <corio/sync/semaphore.hpp>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "sync_support.hpp"

namespace {

using namespace sync_test;

TEST(semaphore, permits_are_counted_and_returned_by_raii) {
  corio::semaphore s(3);
  {
    auto two = s.try_acquire(2);
    ASSERT_TRUE(two);
    EXPECT_EQ(two->count(), 2u);
    EXPECT_EQ(s.available(), 1u);
    EXPECT_EQ(s.try_acquire(2).error(), std::errc::resource_unavailable_try_again);
  }
  EXPECT_EQ(s.available(), 3u);
  auto one = s.try_acquire();
  ASSERT_TRUE(one);
  one->forget();
  EXPECT_EQ(s.available(), 2u);
}

TEST(semaphore, waiters_are_granted_in_fifo_order_without_overtaking) {
  corio::block_on([]() -> corio::task<> {
    corio::semaphore s(0);
    std::vector<int> order;
    auto take = [](corio::semaphore& s, std::size_t n, int id, std::vector<int>& order)
        -> corio::task<> {
      auto p = co_await s.acquire(n);
      EXPECT_TRUE(p);
      order.push_back(id);
    };
    auto big = corio::spawn(take(s, 2, 1, order));
    co_await yield_now{};
    auto small = corio::spawn(take(s, 1, 2, order));
    co_await yield_now{};
    s.release(1);  // would fit the small one, but the big one is ahead
    co_await yield_times(2);
    EXPECT_TRUE(order.empty());
    s.release(1);
    co_await big;
    co_await small;
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    EXPECT_EQ(s.available(), 2u);
  }());
}

TEST(semaphore, cancelling_the_head_waiter_lets_the_next_one_in) {
  corio::block_on([]() -> corio::task<> {
    corio::semaphore s(1);
    auto head = corio::spawn([](corio::semaphore& s) -> corio::task<std::error_code> {
      co_return (co_await s.acquire(2)).error();
    }(s));
    co_await yield_now{};
    auto next = corio::spawn([](corio::semaphore& s) -> corio::task<bool> {
      auto p = co_await s.acquire(1);
      co_return static_cast<bool>(p);
    }(s));
    co_await yield_times(2);
    EXPECT_FALSE(next.is_finished());
    head.request_stop();
    EXPECT_TRUE(is_canceled(co_await head));
    EXPECT_TRUE(co_await next);
    EXPECT_EQ(s.available(), 1u);
  }());
}

TEST(semaphore, close_fails_pending_and_later_acquires) {
  corio::block_on([]() -> corio::task<> {
    corio::semaphore s(0);
    auto pending = corio::spawn([](corio::semaphore& s) -> corio::task<std::error_code> {
      co_return (co_await s.acquire()).error();
    }(s));
    co_await yield_now{};
    s.close();
    EXPECT_EQ(co_await pending, corio::sync_error::closed);
    EXPECT_EQ((co_await s.acquire()).error(), corio::sync_error::closed);
    EXPECT_EQ(s.try_acquire().error(), corio::sync_error::closed);
  }());
}

TEST(semaphore, limits_concurrency_across_two_workers) {
  corio::runtime rt(two_workers());
  corio::semaphore s(2);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  auto work = [](corio::semaphore& s, std::atomic<int>& inside, std::atomic<int>& most)
      -> corio::task<> {
    for (int i = 0; i < 300; ++i) {
      auto p = co_await s.acquire();
      EXPECT_TRUE(p);
      const int now = inside.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      co_await corio::yield();
      inside.fetch_sub(1);
    }
  };
  std::vector<corio::join_handle<>> hs;
  for (std::size_t i = 0; i < 6; ++i) hs.push_back(rt.spawn_on(i % 2, work(s, inside, most)));
  for (auto& h : hs) h.join();
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(s.available(), 2u);
}

// The uncontended path is a compare-and-swap outside the lock; a release racing a waiter that
// is about to queue must reach it (or be taken by it) either way, never be stranded.
TEST(semaphore, releases_from_a_plain_thread_race_waiters_without_losing_any) {
  constexpr int rounds = 20000;
  corio::semaphore s(0);
  std::thread releaser([&s] {
    for (int i = 0; i < rounds; ++i) s.release(1);
  });
  const int got = corio::block_on([](corio::semaphore& s) -> corio::task<int> {
    int got = 0;
    for (int i = 0; i < rounds; ++i) {
      auto p = co_await s.acquire();
      if (!p) break;
      p->forget();  // consumed: the releaser's permits are counted one by one
      ++got;
    }
    co_return got;
  }(s));
  releaser.join();
  EXPECT_EQ(got, rounds);
  EXPECT_EQ(s.available(), 0u);
}

TEST(mutex, excludes_across_a_suspension) {
  corio::block_on([]() -> corio::task<> {
    corio::mutex m;
    int in_critical = 0;
    int max_inside = 0;
    auto body = [](corio::mutex& m, int& in, int& most) -> corio::task<> {
      for (int i = 0; i < 50; ++i) {
        auto g = co_await m.lock();
        EXPECT_TRUE(g);
        ++in;
        most = std::max(most, in);
        co_await yield_now{};
        --in;
      }
    };
    auto a = corio::spawn(body(m, in_critical, max_inside));
    auto b = corio::spawn(body(m, in_critical, max_inside));
    co_await a;
    co_await b;
    EXPECT_EQ(max_inside, 1);
    EXPECT_FALSE(m.is_locked());
  }());
}

TEST(mutex, a_cancelled_lock_never_holds_it) {
  corio::block_on([]() -> corio::task<> {
    corio::mutex m;
    auto held = m.try_lock();
    EXPECT_TRUE(held);
    if (!held) co_return;
    EXPECT_EQ(m.try_lock().error(), std::errc::resource_unavailable_try_again);
    auto waiter = corio::spawn([](corio::mutex& m) -> corio::task<std::error_code> {
      co_return (co_await m.lock()).error();
    }(m));
    co_await yield_now{};
    waiter.request_stop();
    EXPECT_TRUE(is_canceled(co_await waiter));
    held->unlock();
    EXPECT_FALSE(m.is_locked());
    EXPECT_TRUE(m.try_lock());
  }());
}

TEST(mutex, a_plain_counter_stays_exact_across_two_workers) {
  corio::runtime rt(two_workers());
  corio::mutex m;
  long counter = 0;  // deliberately not atomic: the mutex is what protects it (TSan checks)
  auto work = [](corio::mutex& m, long& counter) -> corio::task<> {
    for (int i = 0; i < 500; ++i) {
      auto g = co_await m.lock();
      EXPECT_TRUE(g);
      const long v = counter;
      if (i % 4 == 0) co_await corio::yield();
      counter = v + 1;
    }
  };
  auto a = rt.spawn_on(0, work(m, counter));
  auto b = rt.spawn_on(1, work(m, counter));
  auto c = rt.spawn_on(1, work(m, counter));
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(counter, 1500);
}

}  // namespace
