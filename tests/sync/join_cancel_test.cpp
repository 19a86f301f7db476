// Awaiting a join_handle is a cancellable operation: a stop or a timeout ends the await at once,
// the joined task runs on, and its handle can be awaited again. Every wait is on an event, a
// join or a timer under test, never a sleep used as synchronisation.
#include <corio/runtime.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <system_error>

#include <corio/sync/event.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

#include "net/support.hpp"
#include "sync_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sync_test;
using corio::task;
using clock_type = std::chrono::steady_clock;

// Runs until `release` is set; `cancels` counts stop requests that reached its wait (it must
// see none: cancelling an await of its handle leaves the task alone).
task<int> held_until(corio::manual_reset_event& release, int value, int& cancels) {
  for (;;) {
    auto r = co_await release.wait();
    if (r) co_return value;
    ++cancels;
  }
}

bool is_canceled_error(const std::system_error& e) {
  return e.code() == std::errc::operation_canceled;
}

class join_cancel : public corio::test::backend_test {};

TEST_P(join_cancel, a_timeout_over_a_handle_returns_promptly_and_the_task_runs_on) {
  run([]() -> task<> {
    corio::manual_reset_event release;
    int cancels = 0;
    auto h = corio::spawn(held_until(release, 42, cancels));
    const auto start = clock_type::now();
    auto r = co_await corio::timeout(20ms, h);
    const auto took = clock_type::now() - start;
    CO_ASSERT_TRUE(!r);
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_GE(took, 20ms);
    EXPECT_LT(took, 1s);  // not held until the task ends (it would never, unreleased)
    EXPECT_FALSE(h.is_finished());
    EXPECT_EQ(cancels, 0);
    // Awaiting again after the cancelled await: the result was not taken.
    release.set();
    EXPECT_EQ(co_await h, 42);
    EXPECT_EQ(cancels, 0);
  }());
}

TEST_P(join_cancel, timeout_at_and_when_any_give_up_on_a_handle_too) {
  run([]() -> task<> {
    corio::manual_reset_event release;
    int cancels = 0;
    auto h = corio::spawn(held_until(release, 7, cancels));
    auto r = co_await corio::timeout_at(corio::now() + 5ms, h);
    CO_ASSERT_TRUE(!r);
    EXPECT_EQ(r.error(), std::errc::timed_out);
    auto first = co_await corio::when_any(h, corio::sleep_for(5ms));
    EXPECT_EQ(first.index, 1u);
    EXPECT_FALSE(std::get<0>(first.others).has_value());  // cancelled: took nothing
    EXPECT_FALSE(h.is_finished());
    release.set();
    auto won = co_await corio::when_any(h, corio::sleep_for(10s));
    CO_ASSERT_TRUE(won.index == 0u);
    EXPECT_EQ(std::get<0>(won.value), 7);
    EXPECT_EQ(cancels, 0);
  }());
}

TEST_P(join_cancel, stopping_the_awaiting_task_ends_its_await_at_once) {
  run([]() -> task<> {
    corio::manual_reset_event release;
    int cancels = 0;
    auto child = corio::spawn(held_until(release, 5, cancels));
    bool canceled = false;
    auto parent = corio::spawn([](corio::join_handle<int>& c, bool& canceled) -> task<> {
      try {
        (void)co_await c;
      } catch (const std::system_error& e) {
        canceled = is_canceled_error(e);
      }
    }(child, canceled));
    co_await yield_now{};  // the parent is suspended in its await of the child
    EXPECT_FALSE(parent.is_finished());
    parent.request_stop();
    co_await parent;  // it ends without the child having ended
    EXPECT_TRUE(canceled);
    EXPECT_FALSE(child.is_finished());
    EXPECT_EQ(cancels, 0);
    release.set();
    EXPECT_EQ(co_await child, 5);
  }());
}

TEST_P(join_cancel, an_already_stopped_task_is_cancelled_but_a_finished_handle_still_yields) {
  run([]() -> task<> {
    corio::manual_reset_event release;
    int cancels = 0;
    auto child = corio::spawn(held_until(release, 9, cancels));
    bool canceled = false;
    int late = 0;
    auto parent = corio::spawn([](corio::join_handle<int>& c, corio::manual_reset_event& go,
                                  bool& canceled, int& late) -> task<> {
      co_await yield_now{};  // the stop is requested before the await starts
      try {
        (void)co_await c;
      } catch (const std::system_error& e) {
        canceled = is_canceled_error(e);
      }
      go.set();
      co_await yield_times(2);  // the released child runs to its end
      EXPECT_TRUE(c.is_finished());
      // An await that can complete at once does, even in a stopped task.
      late = co_await c;
    }(child, release, canceled, late));
    parent.request_stop();
    co_await parent;
    EXPECT_TRUE(canceled);
    EXPECT_EQ(late, 9);
    EXPECT_EQ(cancels, 0);
  }());
}

TEST_P(join_cancel, a_shielded_await_waits_for_the_end_in_a_stopped_task) {
  run([]() -> task<> {
    corio::manual_reset_event release;
    int cancels = 0;
    auto child = corio::spawn(held_until(release, 3, cancels));
    int got = 0;
    auto parent = corio::spawn([](corio::join_handle<int>& c, int& got) -> task<> {
      got = co_await c.shielded();
    }(child, got));
    co_await yield_now{};
    parent.request_stop();
    co_await yield_times(3);
    EXPECT_FALSE(parent.is_finished());  // the stop does not reach a shielded await
    release.set();
    co_await parent;
    EXPECT_EQ(got, 3);
  }());
}

TEST_P(join_cancel, a_second_concurrent_await_of_one_handle_is_refused) {
  run([]() -> task<> {
    corio::manual_reset_event release;
    int cancels = 0;
    auto child = corio::spawn(held_until(release, 11, cancels));
    int first = 0;
    auto waiting = corio::spawn([](corio::join_handle<int>& c, int& first) -> task<> {
      first = co_await c;
    }(child, first));
    co_await yield_now{};
    bool busy = false;
    try {
      (void)co_await child;
    } catch (const std::system_error& e) {
      busy = e.code() == std::errc::device_or_resource_busy;
    }
    EXPECT_TRUE(busy);
    release.set();
    co_await waiting;
    EXPECT_EQ(first, 11);
  }());
}

INSTANTIATE_TEST_SUITE_P(backends, join_cancel,
                         ::testing::ValuesIn(corio::built_backends()),
                         corio::test::backend_name);

// The joined task ends on worker 1 while a stop request from this (plain) thread cancels the
// await on worker 0: whichever wins, the value is delivered exactly once, either by the await
// or by a later join of the handle, and nothing hangs.
TEST(join_cancel_across_workers, completion_racing_a_cancel_loses_nothing) {
  constexpr int rounds = 400;
  corio::runtime rt(two_workers());
  int canceled = 0;
  int delivered = 0;
  const auto deadline = clock_type::now() + 3s;
  int round = 0;
  for (; round < rounds && clock_type::now() < deadline; ++round) {
    auto release = std::make_unique<corio::manual_reset_event>();
    int cancels = 0;
    auto child = rt.spawn_on(1, held_until(*release, round, cancels));
    auto parent = rt.spawn_on(0, [](corio::join_handle<int>& c) -> task<int> {
      try {
        co_return co_await c;
      } catch (const std::system_error& e) {
        if (!is_canceled_error(e)) throw;
        co_return -1;
      }
    }(child));
    release->set();
    parent.request_stop();
    const int got = parent.join();
    if (got == -1) {
      ++canceled;
      EXPECT_EQ(child.join(), round);  // not taken by the cancelled await
    } else {
      ++delivered;
      EXPECT_EQ(got, round);
      EXPECT_TRUE(child.is_finished());
    }
    EXPECT_EQ(cancels, 0);
  }
  EXPECT_EQ(canceled + delivered, round);
  RecordProperty("canceled", canceled);
  RecordProperty("delivered", delivered);
  EXPECT_GT(round, 50);
}

// when_any on worker 0 between a handle whose task ends on worker 1 and an event that task
// sets just before it ends: the event's win cancels the join await while the task finishes.
TEST(join_cancel_across_workers, a_select_racing_the_end_keeps_the_value) {
  constexpr int rounds = 400;
  corio::runtime rt(two_workers());
  const auto deadline = clock_type::now() + 3s;
  int round = 0;
  for (; round < rounds && clock_type::now() < deadline; ++round) {
    auto almost = std::make_unique<corio::manual_reset_event>();
    auto child = rt.spawn_on(1, [](corio::manual_reset_event& almost, int v) -> task<int> {
      almost.set();
      co_return v;
    }(*almost, round));
    auto parent = rt.spawn_on(0, [](corio::join_handle<int>& c,
                                    corio::manual_reset_event& almost) -> task<int> {
      auto first = co_await corio::when_any(c, almost.wait());
      if (first.index == 0) co_return std::get<0>(first.value);
      if (auto& other = std::get<0>(first.others)) co_return *other;
      co_return co_await c;  // the cancelled await took nothing: it is all still there
    }(child, *almost));
    EXPECT_EQ(parent.join(), round);
  }
  EXPECT_GT(round, 50);
}

}  // namespace
