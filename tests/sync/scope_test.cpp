// task_scope: children cancelled and awaited before the owner goes on.
#include <corio/scope.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <vector>

#include <corio/sync/event.hpp>
#include <corio/time.hpp>

#include "sync_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sync_test;
using corio::task;

task<int> after_yields(int n) {
  co_await yield_times(n);
  co_return n;
}

// Sleeps (the subject: a child that would run long) and records whether it was cancelled.
task<int> long_sleeper(bool& canceled) {
  auto r = co_await corio::sleep_for(10s);
  canceled = !r && is_canceled(r.error());
  co_return 0;
}

TEST(task_scope, next_yields_results_in_completion_order_then_nullopt) {
  corio::block_on([]() -> task<> {
    corio::task_scope<int> scope;
    scope.spawn(after_yields(3));
    scope.spawn(after_yields(1));
    scope.spawn(after_yields(2));
    EXPECT_EQ(scope.size(), 3u);
    std::vector<int> got;
    while (auto v = co_await scope.next()) got.push_back(*v);
    EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
    EXPECT_TRUE(scope.empty());
    co_await scope.join();
  }());
}

TEST(task_scope, close_cancels_and_awaits_every_child) {
  corio::block_on([]() -> task<> {
    bool a = false, b = false;
    const auto start = std::chrono::steady_clock::now();
    corio::task_scope<int> scope;
    scope.spawn(long_sleeper(a));
    scope.spawn(long_sleeper(b));
    co_await yield_now{};
    co_await scope.close();
    EXPECT_TRUE(a);
    EXPECT_TRUE(b);
    EXPECT_TRUE(scope.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  }());
}

TEST(task_scope, a_failing_child_cancels_its_siblings_and_join_rethrows) {
  corio::block_on([]() -> task<> {
    bool sibling = false;
    corio::task_scope<int> scope(corio::scope_policy::cancel_on_failure);
    scope.spawn(long_sleeper(sibling));
    scope.spawn([]() -> task<int> {
      co_await yield_now{};
      throw std::runtime_error("child failed");
    }());
    bool threw = false;
    try {
      co_await scope.join();
    } catch (const std::runtime_error& e) {
      threw = true;
      EXPECT_STREQ(e.what(), "child failed");
    }
    EXPECT_TRUE(threw);
    EXPECT_TRUE(sibling);
  }());
}

TEST(task_scope, an_error_result_counts_as_failure) {
  corio::block_on([]() -> task<> {
    bool sibling = false;
    corio::task_scope<corio::result<int>> scope(corio::scope_policy::cancel_on_failure);
    scope.spawn([](bool& c) -> task<corio::result<int>> {
      co_return co_await long_sleeper(c);
    }(sibling));
    scope.spawn([]() -> task<corio::result<int>> {
      co_return std::make_error_code(std::errc::connection_reset);
    }());
    auto first = co_await scope.next();
    EXPECT_TRUE(first && !*first && first->error() == std::errc::connection_reset);
    co_await scope.join();
    EXPECT_TRUE(sibling);
  }());
}

TEST(task_scope, keep_going_lets_siblings_finish_after_a_failure) {
  corio::block_on([]() -> task<> {
    corio::task_scope<int> scope;
    scope.spawn([]() -> task<int> { throw std::runtime_error("one"); co_return 0; }());
    scope.spawn(after_yields(3));
    std::vector<int> ok;
    int failures = 0;
    for (;;) {
      try {
        auto v = co_await scope.next();
        if (!v) break;
        ok.push_back(*v);
      } catch (const std::runtime_error&) {
        ++failures;
      }
    }
    EXPECT_EQ(failures, 1);
    EXPECT_EQ(ok, std::vector<int>{3});
    EXPECT_FALSE(scope.canceled());
  }());
}

TEST(task_scope, a_stopped_parent_stops_its_scoped_children) {
  corio::block_on([]() -> task<> {
    bool child_canceled = false;
    auto parent = corio::spawn([](bool& c) -> task<> {
      corio::task_scope<int> scope;
      scope.spawn(long_sleeper(c));
      co_await scope.join();
    }(child_canceled));
    co_await yield_times(2);
    parent.request_stop();
    co_await parent;
    EXPECT_TRUE(child_canceled);
  }());
}

TEST(task_scope, a_scope_destroyed_with_running_children_destroys_them) {
  struct flag_on_destroy {
    bool* flag;
    ~flag_on_destroy() { *flag = true; }
  };
  corio::block_on([]() -> task<> {
    corio::manual_reset_event never;
    bool destroyed = false;
    {
      corio::task_scope<> scope;
      scope.spawn([](corio::manual_reset_event& e, bool& d) -> task<> {
        flag_on_destroy f{&d};
        (void)co_await e.wait();
      }(never, destroyed));
      co_await yield_times(2);  // the child waits on the event
      EXPECT_FALSE(destroyed);
    }
    EXPECT_TRUE(destroyed);
  }());
}

TEST(task_scope, void_children_and_children_spawned_while_waiting) {
  corio::block_on([]() -> task<> {
    corio::task_scope<> scope;
    int ran = 0;
    scope.spawn([](corio::task_scope<>& s, int& ran) -> task<> {
      ++ran;
      s.spawn([](int& ran) -> task<> {
        co_await yield_now{};
        ++ran;
      }(ran));
      co_return;
    }(scope, ran));
    co_await scope.join();
    EXPECT_EQ(ran, 2);
    EXPECT_TRUE(scope.empty());
  }());
}

}  // namespace
