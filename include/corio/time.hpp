// Time for coroutines: sleep_for, sleep_until, interval and timeout on the calling thread's
// timer wheel.
//
//   co_await corio::sleep_for(50ms);              // result<void>: operation_canceled if stopped
//   corio::interval every(100ms);
//   while (auto t = co_await every.tick()) { ... }   // *t: the tick's scheduled time
//   auto n = co_await corio::timeout(2s, sock.read(buf));  // result<size_t>: timed_out on expiry
//   auto m = co_await corio::timeout_at(deadline, rx.recv());  // the same, at a time point
//
// Timers have millisecond resolution and round up: a sleep never ends early, and a 0.3 ms sleep
// lasts until the next millisecond tick. The timer lives in the awaiting frame: no allocation.
//
// interval, missed ticks ("skip"): ticks are scheduled at start + k * period, the first at
// start itself (so it completes at once). A consumer that falls behind by one or more periods
// gets one tick at once (the earliest missed one, with its scheduled time), and the schedule
// then resumes at the first point of the original grid after that moment: the ticks missed
// meanwhile are skipped, never delivered as a burst of catch-up ticks. A cancelled tick()
// consumes nothing.
//
// timeout(d, work): runs `work` (a task, taken by value, or any awaitable passed as a
// temporary in the co_await expression itself: it is held by reference) with a deadline d
// after the timeout is awaited. If the deadline passes first, the work is cancelled and
// awaited (it has finished when timeout returns) and the result is std::errc::timed_out,
// unless the work completed in the deadline's own turn: nothing a completed operation took is
// lost. Such a value is returned when the work yields a result<U> holding one, or when the
// work is an awaitable (not a task) that finished without an exception (a join handle's
// value: corio awaitables report a cancel as operation_canceled, so a value means it won). A
// task's plain value after the deadline is dropped: a task may return one after its work was
// cancelled. Work yielding result<U> gives result<U>; void gives result<void>; any other T
// gives result<T>. Exceptions the work throws are rethrown, except a std::system_error of
// operation_canceled after the deadline (timed_out). Allocation: the frames, from the pool;
// nothing else (the children's stop states live in their frames, see when.hpp).
#pragma once

#include <array>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/task.hpp>
#include <corio/when.hpp>

namespace corio {

class [[nodiscard]] sleep_awaiter final : public detail::timer_operation {
 public:
  explicit sleep_awaiter(std::chrono::nanoseconds d) noexcept : delay_(d), absolute_(false) {}
  explicit sleep_awaiter(std::chrono::steady_clock::time_point t) noexcept
      : until_(t), absolute_(true) {}

  // Decided in await_suspend, where the task's stop token is visible: a stopped task's sleep
  // reports operation_canceled even when it has nothing left to wait for.
  bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    detail::executor* ex = detail::current_executor();
    const detail::stop_ref stop = detail::stop_token_of(h);
    const bool due = absolute_ ? detail::deadline_at(*ex, until_) <= detail::now_tick(*ex)
                               : delay_ <= std::chrono::nanoseconds::zero();
    if (due && !stop.stop_requested()) return false;
    const detail::tick deadline = absolute_ ? detail::deadline_at(*ex, until_)
                                            : detail::deadline_after(*ex, delay_);
    return suspend(h, stop, deadline);
  }

  result<void> await_resume() noexcept {
    disarm();
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    return {};
  }

 private:
  std::chrono::nanoseconds delay_{};
  std::chrono::steady_clock::time_point until_{};
  bool absolute_;
};

template <class Rep, class Period>
sleep_awaiter sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  return sleep_awaiter(std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

// The time timers on this thread run by: the executor's clock, which corio::sim makes virtual
// (use it, not steady_clock::now(), for sleep_until and timeout_at in code that may run there).
inline std::chrono::steady_clock::time_point now() noexcept { return detail::clock_now(); }

inline sleep_awaiter sleep_until(std::chrono::steady_clock::time_point t) noexcept {
  return sleep_awaiter(t);
}

// Ticks on a fixed schedule (see the top of this file for the missed-tick policy). One
// consumer at a time; used on one thread.
class interval {
 public:
  using clock = std::chrono::steady_clock;
  class tick_awaiter;

  // Starts now. A period that is not positive throws std::invalid_argument.
  explicit interval(std::chrono::nanoseconds period);
  interval(clock::time_point start, std::chrono::nanoseconds period);

  // result<clock::time_point>: the tick's scheduled time, start + k * period (never later than
  // the moment it completes); operation_canceled if stopped.
  tick_awaiter tick() noexcept;

  clock::time_point start() const noexcept { return start_; }
  std::chrono::nanoseconds period() const noexcept { return period_; }
  // The scheduled time of the next tick.
  clock::time_point next() const noexcept { return start_ + period_ * next_; }

 private:
  // Hands out the next tick, observed at `now`, and moves the schedule past it.
  clock::time_point deliver(clock::time_point now) noexcept;

  clock::time_point start_;
  std::chrono::nanoseconds period_;
  std::int64_t next_ = 0;  // index of the next tick on the grid
};

class [[nodiscard]] interval::tick_awaiter final : public detail::timer_operation {
 public:
  explicit tick_awaiter(interval& owner) noexcept : owner_(owner), due_(owner.next()) {}

  bool await_ready() const noexcept { return due_ <= detail::clock_now(); }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    detail::executor* ex = detail::current_executor();
    return suspend(h, detail::stop_token_of(h), detail::deadline_at(*ex, due_));
  }

  result<clock::time_point> await_resume() noexcept {
    disarm();
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    return owner_.deliver(detail::clock_now());
  }

 private:
  interval& owner_;
  clock::time_point due_;
};

inline interval::tick_awaiter interval::tick() noexcept { return tick_awaiter(*this); }

namespace detail {

template <class T>
struct timeout_traits {
  using type = result<when_value_t<T>>;
};
template <>
struct timeout_traits<void> {
  using type = result<void>;
};
template <class U>
struct timeout_traits<result<U>> {
  using type = result<U>;
};
template <class T>
using timeout_result_t = typename timeout_traits<T>::type;

template <class T>
inline constexpr bool is_result_v = false;
template <class U>
inline constexpr bool is_result_v<result<U>> = true;

// True for the std::system_error a cancelled operation's value() throws.
inline bool is_cancellation(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& error) {
    return error.code() == std::errc::operation_canceled;
  } catch (...) {
    return false;
  }
}

template <class T>
timeout_result_t<T> timeout_value(when_child<T>& work) {
  if constexpr (std::is_void_v<T>) {
    (void)work.take();
    return {};
  } else {
    return work.take();
  }
}

// Work and a timer as the two children of one first-wins group.
// A deadline `limit` after the timeout is awaited, or at a fixed time (timeout_at).
struct deadline_spec {
  std::chrono::nanoseconds limit{};
  std::optional<std::chrono::steady_clock::time_point> at;
};

template <class T, class Work>
task<timeout_result_t<T>> with_deadline(deadline_spec deadline, Work work) {
  const auto timed_out = std::make_error_code(std::errc::timed_out);
  when_group group(2, when_group::mode::first_wins);
  // A limit is relative, so that it reads the executor's clock (virtual in corio::sim), not the
  // machine's; the timer child starts in the same turn as the work, so the deadline is the
  // same tick. timeout_at's deadline is a fixed time point.
  sleep_awaiter timer = deadline.at ? sleep_awaiter(*deadline.at) : sleep_awaiter(deadline.limit);
  when_child<T> op = run_child<T, Work>(std::forward<Work>(work), group, 0);
  when_child<result<void>> expiry = run_child<result<void>, sleep_awaiter&>(timer, group, 1);
  const std::array<std::coroutine_handle<>, 2> frames{op.handle(), expiry.handle()};
  co_await group.run(frames);
  // The timer won with a value (not with operation_canceled from a stop): the deadline passed.
  if (group.winner() == 1 && expiry.peek().has_value()) {
    if (op.failed()) {
      try {
        (void)op.take();
      } catch (...) {
        if (!is_cancellation(std::current_exception())) throw;
      }
      co_return timed_out;
    }
    if constexpr (is_result_v<T>) {
      if (op.peek().has_value()) co_return op.take();
    } else if constexpr (!is_task_v<std::remove_cvref_t<Work>>) {
      // An awaitable reports its cancel as an error (a corio one throws operation_canceled,
      // as a join handle does): a value means it completed in the deadline's turn and took
      // something (the task's result), which must not be dropped. A task's value says nothing:
      // a task may return one after its work was cancelled.
      if (op.has_value()) co_return timeout_value(op);
    }
    co_return timed_out;
  }
  co_return timeout_value(op);
}

}  // namespace detail

template <class Rep, class Period, class T>
task<detail::timeout_result_t<T>> timeout(std::chrono::duration<Rep, Period> limit,
                                          task<T> work) {
  return detail::with_deadline<T, task<T>>(
      {std::chrono::duration_cast<std::chrono::nanoseconds>(limit), {}}, std::move(work));
}

// An awaitable other than a task: held by reference, so pass it as a temporary inside the
// co_await expression (`co_await timeout(1s, sock.read(buf))`), never from a variable.
template <class Rep, class Period, class Awaitable>
  requires(!detail::is_task_v<std::remove_cvref_t<Awaitable>>)
task<detail::timeout_result_t<detail::await_result_t<Awaitable&&>>> timeout(
    std::chrono::duration<Rep, Period> limit, Awaitable&& work) {
  return detail::with_deadline<detail::await_result_t<Awaitable&&>, Awaitable&&>(
      {std::chrono::duration_cast<std::chrono::nanoseconds>(limit), {}},
      std::forward<Awaitable>(work));
}

// timeout with an absolute deadline: timed_out once `deadline` has passed (at once, after
// running the work, when it already has). For a loop's overall budget.
template <class T>
task<detail::timeout_result_t<T>> timeout_at(std::chrono::steady_clock::time_point deadline,
                                             task<T> work) {
  return detail::with_deadline<T, task<T>>({{}, deadline}, std::move(work));
}

template <class Awaitable>
  requires(!detail::is_task_v<std::remove_cvref_t<Awaitable>>)
task<detail::timeout_result_t<detail::await_result_t<Awaitable&&>>> timeout_at(
    std::chrono::steady_clock::time_point deadline, Awaitable&& work) {
  return detail::with_deadline<detail::await_result_t<Awaitable&&>, Awaitable&&>(
      {{}, deadline}, std::forward<Awaitable>(work));
}

}  // namespace corio
