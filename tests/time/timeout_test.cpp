// corio::timeout over tasks and plain awaitables, driven by block_on on every built backend.
// Sleeps are the subject here: the work that outlasts, or beats, the deadline.
#include <corio/time.hpp>

#include <corio/runtime.hpp>
#include <corio/sync/channel.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <string>
#include <system_error>

#include "../executor/counted.hpp"

namespace {

using namespace std::chrono_literals;
using corio::result;
using corio::task;

class timeout_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  corio::runtime_options options() const { return {GetParam()}; }
};

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

struct yield_now {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    corio::detail::schedule(*corio::detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};

struct work_log {
  bool started = false;
  bool saw_cancel = false;
  bool cleaned_up = false;
};

task<int> slow_value(work_log& log) {
  log.started = true;
  auto r = co_await corio::sleep_for(30s);
  log.saw_cancel = r.error() == std::errc::operation_canceled;
  log.cleaned_up = true;
  co_return 1;
}

TEST_P(timeout_test, expiry_yields_timed_out_after_the_work_was_cancelled_and_finished) {
  work_log log;
  auto body = [](work_log& log) -> task<> {
    const auto start = std::chrono::steady_clock::now();
    result<int> r = co_await corio::timeout(20ms, slow_value(log));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);  // never early
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_TRUE(log.saw_cancel && log.cleaned_up);
  };
  corio::block_on(body(log), options());
}

task<int> quick_value() {
  (void)co_await corio::sleep_for(1ms);
  co_return 42;
}

TEST_P(timeout_test, a_value_in_time_passes_through) {
  auto body = []() -> task<int> {
    co_return (co_await corio::timeout(30s, quick_value())).value();
  };
  EXPECT_EQ(corio::block_on(body(), options()), 42);
}

task<result<std::string>> fallible(bool fail) {
  co_await yield_now{};
  if (fail) co_return std::make_error_code(std::errc::connection_reset);
  co_return std::string("ok");
}

TEST_P(timeout_test, result_of_the_work_is_flattened) {
  auto body = []() -> task<> {
    result<std::string> ok = co_await corio::timeout(30s, fallible(false));
    EXPECT_EQ(ok.value(), "ok");
    result<std::string> bad = co_await corio::timeout(30s, fallible(true));
    EXPECT_EQ(bad.error(), std::errc::connection_reset);
  };
  corio::block_on(body(), options());
}

task<> slow_void(work_log& log) { (void)co_await slow_value(log); }

TEST_P(timeout_test, void_work_gives_result_of_void) {
  work_log log;
  auto body = [](work_log& log) -> task<> {
    result<void> in_time = co_await corio::timeout(30s, [](work_log&) -> task<> {
      co_await yield_now{};
    }(log));
    EXPECT_TRUE(in_time);
    result<void> late = co_await corio::timeout(5ms, slow_void(log));
    EXPECT_EQ(late.error(), std::errc::timed_out);
    EXPECT_TRUE(log.cleaned_up);
  };
  corio::block_on(body(log), options());
}

TEST_P(timeout_test, plain_awaitables_are_cancelled_on_expiry) {
  auto body = []() -> task<> {
    result<void> late = co_await corio::timeout(10ms, corio::sleep_for(30s));
    EXPECT_EQ(late.error(), std::errc::timed_out);
    result<void> in_time = co_await corio::timeout(30s, corio::sleep_for(1ms));
    EXPECT_TRUE(in_time);
  };
  corio::block_on(body(), options());
}

task<int> throws_soon() {
  co_await yield_now{};
  throw std::runtime_error("work failed");
}

TEST_P(timeout_test, exceptions_of_the_work_are_rethrown) {
  auto body = []() -> task<> { (void)co_await corio::timeout(30s, throws_soon()); };
  EXPECT_THROW(corio::block_on(body(), options()), std::runtime_error);
}

task<int> unwraps_on_cancel() {
  auto r = co_await corio::sleep_for(30s);
  r.value();  // throws system_error(operation_canceled) once the deadline cancels the sleep
  co_return 0;
}

TEST_P(timeout_test, a_cancellation_thrown_after_expiry_is_timed_out) {
  auto body = []() -> task<> {
    result<int> r = co_await corio::timeout(5ms, unwraps_on_cancel());
    EXPECT_EQ(r.error(), std::errc::timed_out);
  };
  corio::block_on(body(), options());
}

task<result<int>> bounded(work_log& log) {
  co_return co_await corio::timeout(30s, slow_value(log));
}

TEST_P(timeout_test, a_stopped_parent_gives_the_works_own_result_not_timed_out) {
  work_log log;
  auto body = [](work_log& log) -> task<> {
    auto handle = corio::spawn(bounded(log));
    while (!log.started) co_await yield_now{};
    handle.request_stop();
    result<int> r = co_await handle;
    EXPECT_EQ(r.value(), 1);  // the work returned 1 after its sleep was cancelled
    EXPECT_TRUE(log.saw_cancel);
  };
  corio::block_on(body(log), options());
}

task<corio::test::counted> slow_counted() {
  (void)co_await corio::sleep_for(30s);
  co_return corio::test::counted{};
}

task<corio::test::counted> quick_counted() {
  co_await yield_now{};
  co_return corio::test::counted{};
}

TEST_P(timeout_test, values_are_destroyed_exactly_once) {
  corio::test::counted::reset_counts();
  auto body = []() -> task<> {
    auto late = co_await corio::timeout(5ms, slow_counted());  // built after cancel, dropped
    EXPECT_EQ(late.error(), std::errc::timed_out);
    auto in_time = co_await corio::timeout(30s, quick_counted());
    EXPECT_TRUE(in_time);
  };
  corio::block_on(body(), options());
  EXPECT_EQ(corio::test::counted::default_constructions, 2);
  EXPECT_EQ(corio::test::counted::alive(), 0);
}

// The same-turn race: the work's value and the deadline arrive in one turn, and the timer's
// child runs first. Both wait for the same instant, the producer's timer armed first; equal
// deadlines fire in insertion order, so the producer runs, completes the await (scheduling
// its child), and only then does the timer's child run and win. The value was taken from the
// handle or the channel by then, so timeout must return it, not timed_out.
task<int> value_at(std::chrono::steady_clock::time_point at, bool& armed) {
  armed = true;
  (void)co_await corio::sleep_until(at);
  co_return 7;
}

TEST_P(timeout_test, a_join_value_produced_in_the_deadlines_turn_is_returned_not_lost) {
  auto body = []() -> task<> {
    // Far enough that both timers are armed before it passes, even under a sanitizer.
    const auto deadline = corio::now() + 20ms;
    bool armed = false;
    auto handle = corio::spawn(value_at(deadline, armed));
    while (!armed) co_await yield_now{};
    result<int> r = co_await corio::timeout_at(deadline, handle);
    if (!r) {
      ADD_FAILURE() << "the task's value was taken from its handle and dropped: "
                    << r.error().message();
      co_return;
    }
    EXPECT_EQ(*r, 7);
    EXPECT_TRUE(handle.is_finished());
  };
  corio::block_on(body(), options());
}

task<> send_at(std::chrono::steady_clock::time_point at, corio::channel_sender<int> tx,
               bool& armed) {
  armed = true;
  (void)co_await corio::sleep_until(at);
  (void)co_await tx.send(7);  // a recv is waiting: handed over at once, never queued
}

TEST_P(timeout_test, a_message_received_in_the_deadlines_turn_is_returned_not_lost) {
  auto body = []() -> task<> {
    const auto deadline = corio::now() + 20ms;
    auto [tx, rx] = corio::make_unbounded_channel<int>();
    bool armed = false;
    auto sender = corio::spawn(send_at(deadline, std::move(tx), armed));
    while (!armed) co_await yield_now{};
    result<int> r = co_await corio::timeout_at(deadline, rx.recv());
    co_await sender;
    if (!r) {
      // Timed out: then the message must still be queued for the next recv.
      auto left = rx.try_recv();
      ADD_FAILURE() << "timed out although the message arrived in the same turn ("
                    << (left ? "it stayed queued)" : "and it was lost)");
      co_return;
    }
    EXPECT_EQ(*r, 7);
  };
  corio::block_on(body(), options());
}

INSTANTIATE_TEST_SUITE_P(backends, timeout_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
