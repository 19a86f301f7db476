#include <corio/sync/notify.hpp>
#include <corio/when.hpp>

#include <gtest/gtest.h>

#include "sync_support.hpp"

namespace {

using namespace sync_test;

corio::task<std::error_code> wait_on(corio::notify& n) { co_return (co_await n.notified()).error(); }

TEST(notify, notify_one_without_waiters_stores_a_single_permit) {
  corio::block_on([]() -> corio::task<> {
    corio::notify n;
    n.notify_one();
    n.notify_one();
    EXPECT_TRUE(co_await n.notified());  // the stored permit: at once
    auto second = corio::spawn(wait_on(n));
    co_await yield_times(3);
    EXPECT_FALSE(second.is_finished());  // only one permit was stored
    n.notify_one();
    EXPECT_FALSE(co_await second);
  }());
}

TEST(notify, notify_one_wakes_one_and_notify_waiters_wakes_all_storing_nothing) {
  corio::block_on([]() -> corio::task<> {
    corio::notify n;
    auto a = corio::spawn(wait_on(n));
    auto b = corio::spawn(wait_on(n));
    auto c = corio::spawn(wait_on(n));
    co_await yield_now{};
    n.notify_one();
    co_await yield_times(2);
    EXPECT_TRUE(a.is_finished());
    EXPECT_FALSE(b.is_finished());
    n.notify_waiters();
    EXPECT_FALSE(co_await a);
    EXPECT_FALSE(co_await b);
    EXPECT_FALSE(co_await c);
    auto d = corio::spawn(wait_on(n));
    co_await yield_times(3);
    EXPECT_FALSE(d.is_finished());  // notify_waiters stored no permit
    n.notify_one();
    EXPECT_FALSE(co_await d);
  }());
}

TEST(notify, notify_waiters_reaches_a_notified_created_before_it) {
  corio::block_on([]() -> corio::task<> {
    corio::notify n;
    auto early = n.notified();  // e.g. made before checking a condition
    n.notify_waiters();
    // Awaited through a pointer: g++ 12 would copy an awaiter named by a variable.
    EXPECT_TRUE(co_await corio::detail::await_in_place(early));
  }());
}

TEST(notify, a_notification_racing_a_cancel_goes_to_the_next_waiter) {
  corio::block_on([]() -> corio::task<> {
    corio::notify n;
    auto first = corio::spawn(wait_on(n));
    auto second = corio::spawn(wait_on(n));
    co_await yield_now{};
    first.request_stop();
    EXPECT_TRUE(is_canceled(co_await first));
    n.notify_one();
    EXPECT_FALSE(co_await second);
  }());
}

TEST(notify, ping_pong_across_two_workers) {
  constexpr int rounds = 2000;
  corio::runtime rt(two_workers());
  corio::notify ping, pong;
  int ball = 0;  // handed over by the notifications alone (TSan checks the ordering)
  auto a = rt.spawn_on(0, [](corio::notify& ping, corio::notify& pong, int& ball) -> corio::task<> {
    for (int i = 0; i < rounds; ++i) {
      ++ball;
      ping.notify_one();
      EXPECT_TRUE(co_await pong.notified());
    }
  }(ping, pong, ball));
  auto b = rt.spawn_on(1, [](corio::notify& ping, corio::notify& pong, int& ball) -> corio::task<> {
    for (int i = 0; i < rounds; ++i) {
      EXPECT_TRUE(co_await ping.notified());
      EXPECT_EQ(ball, i + 1);
      pong.notify_one();
    }
  }(ping, pong, ball));
  a.join();
  b.join();
  EXPECT_EQ(ball, rounds);
}

}  // namespace
