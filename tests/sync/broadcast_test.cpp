#include <corio/sync/broadcast.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sync_support.hpp"

namespace {

using namespace sync_test;

TEST(broadcast, every_subscriber_gets_every_value_in_order) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_broadcast<std::string>(8);
    auto rx2 = tx.subscribe();
    auto rx3 = rx.resubscribe();
    auto collect = [](corio::broadcast_receiver<std::string> r) -> corio::task<std::string> {
      std::string all;
      while (auto v = co_await r.recv()) all += *v;
      co_return all;
    };
    auto a = corio::spawn(collect(std::move(rx)));
    auto b = corio::spawn(collect(std::move(rx2)));
    auto c = corio::spawn(collect(std::move(rx3)));
    for (char ch = 'a'; ch <= 'z'; ++ch) {
      auto n = tx.send(std::string(1, ch));
      EXPECT_EQ(n.value(), 3u);
      co_await yield_now{};
    }
    tx.reset();
    const std::string want = "abcdefghijklmnopqrstuvwxyz";
    EXPECT_EQ(co_await a, want);
    EXPECT_EQ(co_await b, want);
    EXPECT_EQ(co_await c, want);
  }());
}

// For a T whose copy cannot throw, send copies the value into the waiting recv and moves the
// receiver's position itself: the woken recv must see that value once, and nothing twice.
TEST(broadcast, a_woken_recv_is_handed_the_value_and_moves_on_by_one) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_broadcast<int>(4);
    auto first = corio::spawn([](corio::broadcast_receiver<int>& rx) -> corio::task<int> {
      auto v = co_await rx.recv();
      co_return v ? *v : -1;
    }(rx));
    co_await yield_now{};  // it waits in recv
    EXPECT_EQ(tx.send(7).value(), 1u);
    (void)tx.send(8).value();  // sent after the hand-over, before the waiter ran
    EXPECT_EQ(co_await first, 7);
    auto next = rx.try_recv();
    EXPECT_TRUE(next);
    EXPECT_EQ(next.value_or(-1), 8);
    EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
  }());
}

TEST(broadcast, a_lagging_receiver_is_told_how_many_it_missed_then_continues) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_broadcast<int>(4);
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(tx.send(i));
    auto lag = co_await rx.recv();
    EXPECT_EQ(lag.error(), corio::sync_error::lagged);
    EXPECT_EQ(lag.missed(), 6u);
    for (int i = 6; i < 10; ++i) EXPECT_EQ((co_await rx.recv()).value(), i);
    EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
  }());
}

TEST(broadcast, closes_after_draining_once_every_sender_is_gone) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_broadcast<int>(4);
    auto tx2 = tx;
    EXPECT_TRUE(tx.send(1));
    tx.reset();
    EXPECT_TRUE(tx2.send(2));
    auto waiting = corio::spawn([](corio::broadcast_receiver<int>& r) -> corio::task<int> {
      int sum = 0;
      while (auto v = co_await r.recv()) sum += *v;
      EXPECT_TRUE(is_closed(r.try_recv().error()));
      co_return sum;
    }(rx));
    co_await yield_times(3);  // drained, now waiting
    tx2.reset();
    EXPECT_EQ(co_await waiting, 3);
  }());
}

TEST(broadcast, send_without_receivers_reports_closed) {
  auto [tx, rx] = corio::make_broadcast<int>(4);
  rx.reset();
  EXPECT_TRUE(is_closed(tx.send(1).error()));
  auto again = tx.subscribe();
  EXPECT_EQ(tx.send(2).value(), 1u);
  EXPECT_EQ(again.try_recv().value(), 2);
}

TEST(broadcast, a_cancelled_recv_consumes_nothing) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_broadcast<int>(4);
    auto pending = corio::spawn([](corio::broadcast_receiver<int>& r) -> corio::task<std::error_code> {
      co_return (co_await r.recv()).error();
    }(rx));
    co_await yield_times(2);
    pending.request_stop();
    EXPECT_TRUE(is_canceled(co_await pending));
    EXPECT_TRUE(tx.send(5));
    EXPECT_EQ((co_await rx.recv()).value(), 5);
  }());
}

// Across workers with a small ring: each receiver sees strictly increasing values, and what it
// received plus what it was told it missed is everything sent.
// A send hands its value to a waiting recv on another worker while the recv's task is being
// stopped from this thread: exactly one wins, and what the recv did not take stays for the
// receiver's next recv.
TEST(broadcast, a_hand_over_racing_a_cancel_on_another_worker_has_one_outcome) {
  corio::runtime rt(two_workers());
  auto [tx, rx] = corio::make_broadcast<int>(1024);
  for (int round = 0; round < 200; ++round) {
    auto waiter = rt.spawn_on(1, [](corio::broadcast_receiver<int>& rx) -> corio::task<int> {
      auto v = co_await rx.recv();
      if (v) co_return *v;
      EXPECT_TRUE(is_canceled(v.error()));
      co_return -1;
    }(rx));
    if (round % 2 == 0) waiter.request_stop();
    EXPECT_TRUE(tx.send(round));
    if (round % 2 == 1) waiter.request_stop();
    const int got = waiter.join();
    auto left = rx.try_recv();  // the task is over: this thread may use the receiver now
    if (got == round) {
      EXPECT_EQ(left.error(), std::errc::resource_unavailable_try_again);
    } else {
      EXPECT_EQ(got, -1);
      EXPECT_EQ(left.value_or(-2), round);
    }
  }
}

TEST(broadcast, across_two_workers_nothing_is_unaccounted_for) {
  constexpr std::uint64_t total = 5000;
  corio::runtime rt(two_workers());
  auto [tx, rx] = corio::make_broadcast<std::uint64_t>(16);
  auto rx2 = tx.subscribe();
  auto consumer = [](corio::broadcast_receiver<std::uint64_t> r) -> corio::task<std::uint64_t> {
    std::uint64_t accounted = 0;
    std::uint64_t last = 0;
    bool first = true;
    for (;;) {
      auto v = co_await r.recv();
      if (v) {
        EXPECT_TRUE(first || *v > last);
        first = false;
        last = *v;
        ++accounted;
      } else if (v.error() == corio::sync_error::lagged) {
        EXPECT_GT(v.missed(), 0u);
        accounted += v.missed();
      } else {
        EXPECT_TRUE(is_closed(v.error()));
        break;
      }
    }
    co_return accounted;
  };
  auto c0 = rt.spawn_on(0, consumer(std::move(rx)));
  auto c1 = rt.spawn_on(1, consumer(std::move(rx2)));
  auto p = rt.spawn_on(0, [](corio::broadcast_sender<std::uint64_t> s) -> corio::task<> {
    for (std::uint64_t i = 0; i < total; ++i) {
      EXPECT_TRUE(s.send(i));
      if (i % 8 == 0) co_await corio::yield();
    }
  }(std::move(tx)));
  p.join();
  EXPECT_EQ(c0.join(), total);
  EXPECT_EQ(c1.join(), total);
}

}  // namespace
