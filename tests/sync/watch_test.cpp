#include <corio/sync/watch.hpp>

#include <gtest/gtest.h>

#include <string>

#include "sync_support.hpp"

namespace {

using namespace sync_test;

TEST(watch, changed_waits_for_a_newer_value_and_sends_coalesce) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_watch<std::string>("init");
    EXPECT_EQ(rx.borrow(), "init");
    EXPECT_FALSE(rx.has_changed());
    auto waiter = corio::spawn([](corio::watch_receiver<std::string>& r) -> corio::task<std::string> {
      EXPECT_TRUE(co_await r.changed());
      co_return r.borrow();
    }(rx));
    co_await yield_times(2);
    EXPECT_FALSE(waiter.is_finished());
    EXPECT_TRUE(tx.send("one"));
    EXPECT_TRUE(tx.send("two"));
    EXPECT_EQ(co_await waiter, "two");
    EXPECT_FALSE(rx.has_changed());  // changed() marked the newest version seen
    tx.modify([](std::string& s) { s += "!"; });
    EXPECT_TRUE(rx.has_changed());
    EXPECT_EQ(rx.borrow_and_update(), "two!");
    EXPECT_FALSE(rx.has_changed());
  }());
}

TEST(watch, a_dropped_sender_reports_the_unseen_version_then_closed) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_watch<int>(0);
    auto copy = rx;  // has seen what rx has seen
    EXPECT_TRUE(tx.send(1));
    tx.reset();
    EXPECT_TRUE(co_await rx.changed());
    EXPECT_EQ(rx.borrow(), 1);
    EXPECT_TRUE(is_closed((co_await rx.changed()).error()));
    EXPECT_TRUE(co_await copy.changed());
    EXPECT_TRUE(is_closed((co_await copy.changed()).error()));
  }());
}

TEST(watch, send_without_receivers_stores_and_reports_closed) {
  auto [tx, rx] = corio::make_watch<int>(0);
  rx.reset();
  EXPECT_EQ(tx.live_receivers(), 0u);
  EXPECT_TRUE(is_closed(tx.send(3).error()));
  EXPECT_EQ(tx.subscribe().borrow(), 3);
}

TEST(watch, a_cancelled_changed_marks_nothing_seen) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_watch<int>(0);
    auto pending = corio::spawn([](corio::watch_receiver<int>& r) -> corio::task<std::error_code> {
      co_return (co_await r.changed()).error();
    }(rx));
    co_await yield_times(2);
    pending.request_stop();
    EXPECT_TRUE(is_canceled(co_await pending));
    EXPECT_TRUE(tx.send(9));
    EXPECT_TRUE(rx.has_changed());
    EXPECT_TRUE(co_await rx.changed());
    EXPECT_EQ(rx.borrow(), 9);
  }());
}

TEST(watch, a_receiver_on_another_worker_sees_increasing_values_ending_with_the_last) {
  constexpr int total = 3000;
  corio::runtime rt(two_workers());
  auto [tx, rx] = corio::make_watch<int>(0);
  auto r = rt.spawn_on(1, [](corio::watch_receiver<int> r) -> corio::task<int> {
    int last = 0;
    while (co_await r.changed()) {
      const int v = r.borrow();
      EXPECT_GE(v, last);
      last = v;
    }
    co_return last;
  }(std::move(rx)));
  auto s = rt.spawn_on(0, [](corio::watch_sender<int> s) -> corio::task<> {
    for (int i = 1; i <= total; ++i) {
      (void)s.send(i);  // closed only if the receiver ended early, which the join checks
      if (i % 16 == 0) co_await corio::yield();
    }
  }(std::move(tx)));
  s.join();
  EXPECT_EQ(r.join(), total);
}

}  // namespace
