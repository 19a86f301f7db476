// The sync primitives' share of "no heap allocation per operation in steady state": after a
// warm-up, thousands of operations on an mpmc channel (two receivers), a broadcast to 8
// subscribers, a watch, a contended mutex, a contended semaphore and a notify, with waiters
// suspending, make zero calls to operator new and (outside sanitizer builds) to malloc.
//
// This binary replaces the global allocation functions (the counting technique of
// tests/executor/allocation_test.cpp), so it has no other tests. Counting is per thread and
// only inside a window. Everything runs on one thread: block_on's.
#include <corio/runtime.hpp>
#include <corio/sync/broadcast.hpp>
#include <corio/sync/channel.hpp>
#include <corio/sync/event.hpp>
#include <corio/sync/mutex.hpp>
#include <corio/sync/notify.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/sync/watch.hpp>

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <utility>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "../support/sanitizers.hpp"
#include "sync_support.hpp"

#include "../support/allocation_counter.hpp"

namespace {

using corio::task;
using sync_test::yield_now;

constexpr int rounds = 2000;
constexpr int subscribers = 8;

struct window {
  window() {
    new_calls = malloc_calls = 0;
    counting = true;
  }
  ~window() { counting = false; }
};

// Each workload is a main part plus helper tasks. The helpers are spawned before the counting
// window (a spawn allocates its task's std::stop_source: the runtime's cost, not an
// operation's) and wait for `go`. Everything runs once to warm up (the channel's ring grows,
// the frame pool fills), then again inside the window.

task<int> gated(corio::manual_reset_event& go, task<int> work) {
  (void)co_await go.wait();  // result<void>: never cancelled here
  co_return co_await std::move(work);
}

task<int> consume(corio::channel_receiver<int> r, int n) {
  int got = 0;
  for (int i = 0; i < n; ++i) {
    if (co_await r.recv()) ++got;
  }
  co_return got;
}

task<int> produce(corio::channel_sender<int>& tx, int n) {
  int sent = 0;
  for (int i = 0; i < n; ++i) {
    if (co_await tx.send(i)) ++sent;
    if (i % 3 == 0) co_await yield_now{};
  }
  co_return sent;
}

task<int> broadcast_rounds(corio::broadcast_sender<int>& tx,
                           std::vector<corio::broadcast_receiver<int>>& rxs, int n) {
  int got = 0;
  for (int i = 0; i < n; ++i) {
    if (!tx.send(i)) break;
    for (auto& r : rxs) {
      if (co_await r.recv()) ++got;
    }
  }
  co_return got / subscribers;
}

task<int> watch_changes(corio::watch_receiver<int>& r, int n) {
  int seen = 0;
  for (int i = 0; i < n; ++i) {
    if (co_await r.changed()) ++seen;
  }
  co_return seen;
}

task<int> watch_sends(corio::watch_sender<int>& tx, int n) {
  for (int i = 0; i < n; ++i) {
    co_await yield_now{};  // the waiter suspends in changed() each round
    (void)tx.send(i);      // result<void> (not nodiscard); the waiter's count checks delivery
  }
  co_return 0;
}

task<int> lock_rounds(corio::mutex& m, int n) {
  int held = 0;
  for (int i = 0; i < n; ++i) {
    auto g = co_await m.lock();
    if (g) ++held;
    co_await yield_now{};  // the other one waits meanwhile
  }
  co_return held;
}

// Each needs 3 of the semaphore's 4 permits: they wait for each other.
task<int> acquire_rounds(corio::semaphore& s, int n) {
  int got = 0;
  for (int i = 0; i < n; ++i) {
    auto p = co_await s.acquire(3);
    if (p) ++got;
    co_await yield_now{};
  }
  co_return got;
}

task<int> notified_rounds(corio::notify& nt, int n) {
  int woken = 0;
  for (int i = 0; i < n; ++i) {
    if (co_await nt.notified()) ++woken;
  }
  co_return woken;
}

task<int> notify_rounds(corio::notify& nt, int n) {
  for (int i = 0; i < n; ++i) {
    co_await yield_now{};
    nt.notify_one();
  }
  co_return 0;
}

struct counts {
  std::size_t news = 0;
  std::size_t mallocs = 0;
  int mpmc = 0, broadcast = 0, watch = 0, mutex = 0, semaphore = 0, notify = 0;
};

struct primitives {
  std::pair<corio::channel_sender<int>, corio::channel_receiver<int>> channel =
      corio::make_channel<int>(64);
  std::pair<corio::broadcast_sender<int>, corio::broadcast_receiver<int>> broadcast =
      corio::make_broadcast<int>(16);
  std::vector<corio::broadcast_receiver<int>> subs;
  std::pair<corio::watch_sender<int>, corio::watch_receiver<int>> watch =
      corio::make_watch<int>(0);
  corio::mutex m;
  corio::semaphore s{4};
  corio::notify nt;
};

task<> run_rounds(primitives& p, int n, counts& c, bool count) {
  corio::manual_reset_event go;
  auto h = [&](task<int> t) { return corio::spawn(gated(go, std::move(t))); };
  auto mpmc_a = h(consume(p.channel.second, n / 2));
  auto mpmc_b = h(consume(p.channel.second, n / 2));
  auto watch_waiter = h(watch_changes(p.watch.second, n));
  auto lock_a = h(lock_rounds(p.m, n / 2));
  auto lock_b = h(lock_rounds(p.m, n / 2));
  auto acquire_a = h(acquire_rounds(p.s, n / 2));
  auto acquire_b = h(acquire_rounds(p.s, n / 2));
  auto notified = h(notified_rounds(p.nt, n));
  co_await yield_now{};  // every helper is parked on `go`
  {
    std::optional<window> w;
    if (count) w.emplace();
    go.set();
    (void)co_await produce(p.channel.first, n);
    c.mpmc = co_await mpmc_a + co_await mpmc_b;
    c.broadcast = co_await broadcast_rounds(p.broadcast.first, p.subs, n);
    (void)co_await watch_sends(p.watch.first, n);
    c.watch = co_await watch_waiter;
    c.mutex = co_await lock_a + co_await lock_b;
    c.semaphore = co_await acquire_a + co_await acquire_b;
    (void)co_await notify_rounds(p.nt, n);
    c.notify = co_await notified;
    c.news = new_calls;
    c.mallocs = malloc_calls;
  }
}

task<counts> scenario() {
  primitives p;
  p.subs.push_back(std::move(p.broadcast.second));
  for (int i = 1; i < subscribers; ++i) p.subs.push_back(p.broadcast.first.subscribe());
  counts warm;
  co_await run_rounds(p, 100, warm, false);
  counts c;
  co_await run_rounds(p, rounds, c, true);
  co_return c;
}

TEST(sync_allocation, steady_state_operations_make_no_heap_allocations) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  const counts c = corio::block_on(scenario());
  EXPECT_EQ(c.mpmc, rounds);
  EXPECT_EQ(c.broadcast, rounds);
  EXPECT_EQ(c.watch, rounds);
  EXPECT_EQ(c.mutex, rounds);
  EXPECT_EQ(c.semaphore, rounds);
  EXPECT_EQ(c.notify, rounds);
  EXPECT_EQ(c.news, 0u) << "global operator new calls in steady state";
  if (CORIO_TEST_CAN_REPLACE_MALLOC) {
    EXPECT_EQ(c.mallocs, 0u) << "malloc/calloc/realloc calls in steady state";
  }
}

TEST(sync_allocation_counter, sees_allocations_it_should_count) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  std::size_t news = 0;
  {
    window w;
    auto* volatile p = new int(1);
    delete p;
    news = new_calls;
  }
  EXPECT_EQ(news, 1u);
}

}  // namespace
