// when_all and when_any, driven by block_on on every built backend. Sleeps here are the
// subject (children that take a while), never a way to wait for another coroutine: ordering
// between coroutines is established with yield_now, which only lets the ready queue turn.
#include <corio/when.hpp>

#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>
#include <corio/time.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "counted.hpp"

namespace {

using namespace std::chrono_literals;
using corio::task;

class backend_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  corio::runtime_options options() const { return {GetParam()}; }
};
class when_all_test : public backend_test {};
class when_any_test : public backend_test {};

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

// Lets every coroutine that is ready now run once before this one continues.
struct yield_now {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    corio::detail::schedule(*corio::detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};

// What a child saw: whether its sleep was cancelled, and whether it got to clean up.
struct child_log {
  bool started = false;
  bool saw_cancel = false;
  bool cleaned_up = false;
};

task<int> sleep_then(std::chrono::milliseconds d, int value, std::vector<int>* finish_order) {
  (void)co_await corio::sleep_for(d);
  if (finish_order) finish_order->push_back(value);
  co_return value;
}

// Sleeps long unless cancelled; records what it saw. Its result is its id.
task<int> sleeper(child_log& log, int id) {
  log.started = true;
  auto r = co_await corio::sleep_for(30s);
  log.saw_cancel = r.error() == std::errc::operation_canceled;
  log.cleaned_up = true;
  co_return id;
}

// ---- when_all ------------------------------------------------------------------------------

task<std::string> text_after(std::chrono::milliseconds d, std::vector<int>& order) {
  (void)co_await corio::sleep_for(d);
  order.push_back(2);
  co_return "two";
}

task<> nothing_after(std::chrono::milliseconds d, std::vector<int>& order) {
  (void)co_await corio::sleep_for(d);
  order.push_back(3);
}

TEST_P(when_all_test, results_come_in_argument_order_whatever_the_finishing_order) {
  std::vector<int> order;
  auto body = [](std::vector<int>& order) -> task<std::tuple<int, std::string, std::monostate>> {
    co_return co_await corio::when_all(sleep_then(30ms, 1, &order), text_after(10ms, order),
                                       nothing_after(1ms, order));
  };
  auto [one, two, three] = corio::block_on(body(order), options());
  EXPECT_EQ(one, 1);
  EXPECT_EQ(two, "two");
  (void)three;
  EXPECT_EQ(order, (std::vector<int>{3, 2, 1}));
}

struct flight {
  int now = 0;
  int max = 0;
};

task<> in_flight(flight& f) {
  ++f.now;
  f.max = std::max(f.max, f.now);
  (void)co_await corio::sleep_for(50ms);
  --f.now;
}

TEST_P(when_all_test, children_run_concurrently) {
  flight f;
  auto body = [](flight& f) -> task<> {
    (void)co_await corio::when_all(in_flight(f), in_flight(f), in_flight(f));
  };
  corio::block_on(body(f), options());
  EXPECT_EQ(f.max, 3);  // all three were suspended in their sleeps at once
  EXPECT_EQ(f.now, 0);
}

task<int> throw_after(std::chrono::milliseconds d, const char* what) {
  if (d > 0ms) (void)co_await corio::sleep_for(d);
  throw std::runtime_error(what);
}

task<int> finish_late(bool& finished) {
  (void)co_await corio::sleep_for(30ms);
  finished = true;
  co_return 3;
}

TEST_P(when_all_test, first_failure_is_rethrown_after_all_finished) {
  auto body = []() -> task<> {
    bool late_finished = false;
    try {
      (void)co_await corio::when_all(throw_after(10ms, "second"), throw_after(0ms, "first"),
                                     finish_late(late_finished));
      ADD_FAILURE() << "when_all did not throw";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "first");
      EXPECT_TRUE(late_finished);  // the sibling was neither cancelled nor abandoned
    }
  };
  corio::block_on(body(), options());
}

task<int> square(int i) {
  co_await yield_now{};
  co_return i * i;
}

TEST_P(when_all_test, range_form_keeps_positions) {
  auto body = []() -> task<std::vector<int>> {
    std::vector<task<int>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(square(i));
    co_return co_await corio::when_all(std::move(tasks));
  };
  EXPECT_EQ(corio::block_on(body(), options()), (std::vector<int>{0, 1, 4, 9, 16}));
}

TEST_P(when_all_test, range_form_of_void_tasks_and_of_none) {
  flight f;
  auto body = [](flight& f) -> task<std::size_t> {
    std::vector<task<>> tasks;
    for (int i = 0; i < 4; ++i) tasks.push_back(in_flight(f));
    co_await corio::when_all(std::move(tasks));
    auto none = co_await corio::when_all(std::vector<task<int>>{});
    co_return none.size();
  };
  EXPECT_EQ(corio::block_on(body(f), options()), 0u);
  EXPECT_EQ(f.max, 4);
}

task<corio::test::counted> make_counted() {
  co_await yield_now{};
  co_return corio::test::counted{};
}

TEST_P(when_all_test, results_are_destroyed_exactly_once) {
  corio::test::counted::reset_counts();
  auto body = []() -> task<> {
    auto [a, b] = co_await corio::when_all(make_counted(), make_counted());
    EXPECT_NE(a.id, b.id);
    auto first = co_await corio::when_any(make_counted(), make_counted());
    EXPECT_EQ(first.index, 0u);
  };
  corio::block_on(body(), options());
  EXPECT_EQ(corio::test::counted::default_constructions, 4);
  EXPECT_EQ(corio::test::counted::alive(), 0);
}

// ---- when_any ------------------------------------------------------------------------------

TEST_P(when_any_test, first_to_finish_wins_and_losers_are_cancelled_and_finished) {
  child_log a, c;
  auto body = [](child_log& a, child_log& c) -> task<> {
    auto first = co_await corio::when_any(sleeper(a, 0), sleep_then(5ms, 7, nullptr),
                                          sleeper(c, 2));
    EXPECT_EQ(first.index, 1u);
    EXPECT_EQ(std::get<1>(first.value), 7);
    // Before when_any returned, both losers saw the cancellation and ran their cleanup.
    EXPECT_TRUE(a.saw_cancel && a.cleaned_up);
    EXPECT_TRUE(c.saw_cancel && c.cleaned_up);
  };
  corio::block_on(body(a, c), options());
}

task<int> immediately(int v) { co_return v; }

TEST_P(when_any_test, a_synchronous_winner_cancels_losers_that_never_suspended_yet) {
  child_log b;
  auto body = [](child_log& b) -> task<std::size_t> {
    auto first = co_await corio::when_any(immediately(5), sleeper(b, 1));
    co_return first.index;
  };
  EXPECT_EQ(corio::block_on(body(b), options()), 0u);
  EXPECT_TRUE(b.started);
  EXPECT_TRUE(b.saw_cancel);
}

TEST_P(when_any_test, range_form_reports_the_winner_position) {
  child_log logs[3];
  auto body = [](child_log (&logs)[3]) -> task<std::pair<std::size_t, int>> {
    std::vector<task<int>> tasks;
    tasks.push_back(sleeper(logs[0], 0));
    tasks.push_back(sleeper(logs[1], 1));
    tasks.push_back(sleep_then(1ms, 22, nullptr));
    tasks.push_back(sleeper(logs[2], 3));
    co_return co_await corio::when_any(std::move(tasks));
  };
  auto [index, value] = corio::block_on(body(logs), options());
  EXPECT_EQ(index, 2u);
  EXPECT_EQ(value, 22);
  for (const auto& log : logs) EXPECT_TRUE(log.saw_cancel && log.cleaned_up);
}

TEST_P(when_any_test, range_form_of_none_throws) {
  auto body = []() -> task<> { (void)co_await corio::when_any(std::vector<task<int>>{}); };
  EXPECT_THROW(corio::block_on(body(), options()), std::invalid_argument);
}

TEST_P(when_any_test, winner_exception_is_rethrown_after_losers_finished) {
  child_log b;
  auto body = [](child_log& b) -> task<> {
    try {
      (void)co_await corio::when_any(throw_after(1ms, "boom"), sleeper(b, 1));
      ADD_FAILURE() << "when_any did not throw";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "boom");
      EXPECT_TRUE(b.saw_cancel && b.cleaned_up);
    }
  };
  corio::block_on(body(b), options());
}

// ---- cancellation from the parent ----------------------------------------------------------

task<int> any_of_sleepers(child_log& a, child_log& b) {
  auto first = co_await corio::when_any(sleeper(a, 0), sleeper(b, 1));
  co_return static_cast<int>(first.index);
}

task<int> all_of_sleepers(child_log& a, child_log& b) {
  auto [x, y] = co_await corio::when_all(sleeper(a, 10), sleeper(b, 20));
  co_return x + y;
}

// Spawns `work`, lets it run until both children are suspended, stops it, and joins it.
template <class Make>
task<int> stop_when_started(Make make, child_log& a, child_log& b) {
  auto handle = corio::spawn(make(a, b));
  while (!(a.started && b.started)) co_await yield_now{};
  EXPECT_FALSE(a.cleaned_up || b.cleaned_up);
  EXPECT_TRUE(handle.request_stop());
  co_return co_await handle;
}

TEST_P(when_any_test, stopping_the_parent_cancels_every_child) {
  child_log a, b;
  auto make = [](child_log& a, child_log& b) { return any_of_sleepers(a, b); };
  const int index = corio::block_on(stop_when_started(make, a, b), options());
  EXPECT_LT(index, 2);  // both finished cancelled; whichever reported first won
  EXPECT_TRUE(a.saw_cancel && a.cleaned_up);
  EXPECT_TRUE(b.saw_cancel && b.cleaned_up);
}

TEST_P(when_all_test, stopping_the_parent_cancels_every_child) {
  child_log a, b;
  auto make = [](child_log& a, child_log& b) { return all_of_sleepers(a, b); };
  EXPECT_EQ(corio::block_on(stop_when_started(make, a, b), options()), 30);
  EXPECT_TRUE(a.saw_cancel && a.cleaned_up);
  EXPECT_TRUE(b.saw_cancel && b.cleaned_up);
}

task<int> nested(child_log& a, child_log& b) {
  // when_all inside when_any inside a spawned task: the stop goes down two levels.
  auto first = co_await corio::when_any(all_of_sleepers(a, b));
  co_return std::get<0>(first.value);
}

TEST_P(when_any_test, stop_reaches_nested_combinators) {
  child_log a, b;
  auto make = [](child_log& a, child_log& b) { return nested(a, b); };
  EXPECT_EQ(corio::block_on(stop_when_started(make, a, b), options()), 30);
  EXPECT_TRUE(a.saw_cancel && a.cleaned_up);
  EXPECT_TRUE(b.saw_cancel && b.cleaned_up);
}

TEST_P(when_any_test, a_stop_from_another_thread_cancels_the_children) {
  child_log a, b;
  auto body = [](child_log& a, child_log& b) -> task<int> {
    auto handle = corio::spawn(any_of_sleepers(a, b));
    while (!(a.started && b.started)) co_await yield_now{};
    std::thread stopper([&handle] { handle.request_stop(); });
    const int index = co_await handle;  // the stop arrives through the remote queue
    stopper.join();
    co_return index;
  };
  EXPECT_LT(corio::block_on(body(a, b), options()), 2);
  EXPECT_TRUE(a.saw_cancel && a.cleaned_up);
  EXPECT_TRUE(b.saw_cancel && b.cleaned_up);
}

TEST_P(when_all_test, children_still_running_when_block_on_returns_are_destroyed) {
  child_log a, b;
  auto body = [](child_log& a, child_log& b) -> task<> {
    corio::spawn(all_of_sleepers(a, b)).detach();
    while (!(a.started && b.started)) co_await yield_now{};
  };
  corio::block_on(body(a, b), options());  // destroys the suspended frames (ASan checks)
  EXPECT_FALSE(a.cleaned_up || b.cleaned_up);
}

// ---- Select over anything: awaitables beside tasks ------------------------------------------

TEST_P(when_any_test, selects_over_a_recv_a_sleep_and_a_task) {
  corio::block_on([]() -> task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    auto sender = corio::spawn([](corio::channel_sender<int> tx) -> task<> {
      co_await yield_now{};
      EXPECT_TRUE(co_await tx.send(42));
    }(tx));
    auto s = co_await corio::when_any(rx.recv(), corio::sleep_for(10s), sleep_then(10s, 1, nullptr));
    EXPECT_EQ(s.index, 0u);
    EXPECT_EQ(std::get<0>(s.value).value(), 42);
    EXPECT_FALSE(std::get<1>(s.others));  // the sleep ended cancelled: nothing to keep
    // The task saw its sleep cancelled and still returned a value: that is kept, not dropped.
    EXPECT_EQ(std::get<2>(s.others), 1);
    co_await sender;
  }(), options());
}

TEST_P(when_any_test, a_ready_recv_after_the_winner_is_not_started) {
  corio::block_on([]() -> task<> {
    auto [tx1, rx1] = corio::make_channel<int>(4);
    auto [tx2, rx2] = corio::make_channel<int>(4);
    EXPECT_TRUE(tx1.try_send(1));
    EXPECT_TRUE(tx2.try_send(2));
    auto s = co_await corio::when_any(rx1.recv(), rx2.recv());
    EXPECT_EQ(s.index, 0u);
    EXPECT_EQ(std::get<0>(s.value).value(), 1);
    EXPECT_FALSE(std::get<1>(s.others));
    EXPECT_EQ(rx2.try_recv().value(), 2);  // still queued: the losing recv never took it
  }(), options());
}

TEST_P(when_any_test, a_pending_losing_recv_is_cancelled_without_taking_a_message) {
  corio::block_on([]() -> task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    auto s = co_await corio::when_any(rx.recv(), corio::sleep_for(2ms));
    EXPECT_EQ(s.index, 1u);
    EXPECT_TRUE(std::get<1>(s.value));
    EXPECT_FALSE(std::get<0>(s.others));  // cancelled: nothing to keep
    EXPECT_TRUE(tx.try_send(7));
    EXPECT_EQ(rx.try_recv().value(), 7);
  }(), options());
}

TEST_P(when_any_test, a_loser_that_completed_in_the_race_keeps_its_message_in_others) {
  corio::block_on([]() -> task<> {
    auto [tx1, rx1] = corio::make_channel<int>(4);
    auto [tx2, rx2] = corio::make_channel<int>(4);
    auto both = corio::spawn([](corio::channel_sender<int> a,
                                corio::channel_sender<int> b) -> task<> {
      co_await yield_now{};  // both recvs are pending now
      EXPECT_TRUE(a.try_send(1));  // completes recv 0 ...
      EXPECT_TRUE(b.try_send(2));  // ... and recv 1, before either resumes
    }(tx1, tx2));
    auto s = co_await corio::when_any(rx1.recv(), rx2.recv());
    EXPECT_EQ(s.index, 0u);
    EXPECT_EQ(std::get<0>(s.value).value(), 1);
    EXPECT_TRUE(std::get<1>(s.others));
    if (std::get<1>(s.others)) {
      EXPECT_EQ(std::get<1>(s.others)->value(), 2);
    }
    co_await both;
  }(), options());
}

TEST_P(when_any_test, selects_over_a_join_handle_and_an_interval_tick) {
  corio::block_on([]() -> task<> {
    auto h = corio::spawn(sleep_then(1ms, 5, nullptr));
    corio::interval every(10s);
    (void)co_await every.tick();  // the first tick is immediate; the next is 10 s away
    auto s = co_await corio::when_any(h, every.tick());
    EXPECT_EQ(s.index, 0u);
    EXPECT_EQ(std::get<0>(s.value), 5);
  }(), options());
}

TEST_P(when_all_test, awaits_awaitables_and_tasks_together) {
  corio::block_on([]() -> task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    EXPECT_TRUE(tx.try_send(3));
    auto [m, slept, v] = co_await corio::when_all(rx.recv(), corio::sleep_for(1ms),
                                                   sleep_then(1ms, 4, nullptr));
    EXPECT_EQ(m.value(), 3);
    EXPECT_TRUE(slept);
    EXPECT_EQ(v, 4);
  }(), options());
}

TEST_P(when_any_test, timeout_at_expires_at_its_deadline_and_the_recv_takes_nothing) {
  corio::block_on([]() -> task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await corio::timeout_at(start + 5ms, rx.recv());
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
    EXPECT_TRUE(tx.try_send(1));
    EXPECT_EQ(rx.try_recv().value(), 1);
    // A deadline already past still lets work that is ready complete.
    EXPECT_TRUE(tx.try_send(2));
    auto ready = co_await corio::timeout_at(start, rx.recv());
    EXPECT_EQ(ready.value(), 2);
    auto late = co_await corio::timeout_at(std::chrono::steady_clock::now() + 1ms,
                                           sleep_then(10s, 3, nullptr));
    EXPECT_EQ(late.error(), std::errc::timed_out);
  }(), options());
}

INSTANTIATE_TEST_SUITE_P(backends, when_all_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(backends, when_any_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
