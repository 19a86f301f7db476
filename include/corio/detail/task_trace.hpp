// What the diagnostics (corio/diagnostics.hpp) know about a spawned task: where it was spawned,
// where it last suspended, on what, and since when. Written on the task's own thread by plain
// relaxed stores (a few per co_await that suspends, no clock read); read racily but safely by the dump and the
// stall watchdog on other threads.
//
// The suspend site comes from task's await_transform: its defaulted __builtin_FILE/LINE arguments
// are evaluated at the co_await expression (std::source_location would do the same, but clang 14
// with libstdc++ has none).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>

// 0 only to measure what the diagnostics cost: every note and counter on the hot path, and the
// watchdog thread, compiled out. All of corio and the program must agree (a whole build with
// -DCORIO_DIAGNOSTICS_HOOKS=0); bench/diagnostics_cost.py compares such a build with a normal one.
#ifndef CORIO_DIAGNOSTICS_HOOKS
#define CORIO_DIAGNOSTICS_HOOKS 1
#endif

namespace corio {

// A place in the source: what std::source_location::current() gives, on every compiler corio
// supports.
struct source_site {
  const char* file = "";
  unsigned line = 0;
  const char* function = "";

  static constexpr source_site current(const char* file = __builtin_FILE(),
                                       unsigned line = __builtin_LINE(),
                                       const char* function = __builtin_FUNCTION()) noexcept {
    return {file, line, function};
  }
};

// What a task waits on, as its last co_await said (an awaitable names its kind with a static
// member `corio_wait`; anything else is `other`, e.g. a task that is its own awaiter).
enum class task_state : std::uint8_t {
  not_started,  // spawned, not yet run
  ready,        // yielded: runs on the next turn
  io,           // a socket, a signal set: the reactor
  timer,        // a sleep, a deadline, an interval
  channel,      // a channel, oneshot, event: another task
  join,         // another task's end (join_handle, when_all)
  other,
};

namespace detail {

// A process-wide coarse clock in milliseconds, advanced by the diagnostics watchdog thread
// (every few tens of ms while any executor exists). Tasks copy it when they suspend: the dump
// tells how long they waited without a clock read on the hot path.
extern std::atomic<std::uint32_t> coarse_clock_ms;

struct task_trace {
  source_site spawned_at;
  std::atomic<const char*> suspend_file{nullptr};
  // The line and the state in one word: both are constants at a co_await, so noting them is
  // one store of a constant.
  std::atomic<std::uint32_t> line_and_state{pack(0, task_state::not_started)};
  std::atomic<std::uint32_t> since_ms{0};
  // The frame that last suspended (the innermost task of this spawn): the executor knows which
  // frame it resumed, and the stall report finds the task by it.
  std::atomic<void*> frame{nullptr};

  static constexpr std::uint32_t pack(unsigned line, task_state s) noexcept {
    return (static_cast<std::uint32_t>(line) << 8) | static_cast<std::uint32_t>(s);
  }
  unsigned suspend_line() const noexcept {
    return line_and_state.load(std::memory_order_relaxed) >> 8;
  }
  task_state state() const noexcept {
    return static_cast<task_state>(line_and_state.load(std::memory_order_relaxed) & 0xFF);
  }

  // Inlined into every co_await of a task that suspends: a call would cost more than the stores.
  [[gnu::always_inline]] void suspended(const char* file, unsigned line, task_state s,
                                        void* at) noexcept {
    suspend_file.store(file, std::memory_order_relaxed);
    line_and_state.store(pack(line, s), std::memory_order_relaxed);
    since_ms.store(coarse_clock_ms.load(std::memory_order_relaxed), std::memory_order_relaxed);
    frame.store(at, std::memory_order_relaxed);
  }
};

template <class Awaitable>
constexpr task_state wait_state_of() noexcept {
  using A = std::remove_cvref_t<Awaitable>;
  if constexpr (requires { A::corio_wait; }) {
    return A::corio_wait;
  } else if constexpr (requires(A&& a) { static_cast<A&&>(a).operator co_await(); }) {
    using awaiter = decltype(std::declval<A>().operator co_await());
    if constexpr (requires { awaiter::corio_wait; }) {
      return awaiter::corio_wait;
    } else {
      return task_state::other;
    }
  } else {
    return task_state::other;
  }
}

// What await_transform hands back: the awaiter, held by reference when the awaitable is its own
// awaiter (it lives in the co_await's full-expression), by value when operator co_await made
// it. A prvalue, because g++ 12 copies an awaiter that await_transform returns by reference.
// The suspend site is noted in await_suspend, before the inner awaiter runs (after it, another
// thread may already have resumed and ended the task) -- except for corio's own operations,
// which only their owner thread resumes: those are noted after, and only when they really
// suspended. A write that completes at once (most of them) costs no note.
template <task_state State, class Awaiter>
struct traced_awaiter {
  Awaiter inner;
  const char* file;
  unsigned line;
  bool await_ready() noexcept(noexcept(inner.await_ready())) { return inner.await_ready(); }
  // Inlined: a call here would be a second call around the inner awaiter's own await_suspend.
  template <class Promise>
  [[gnu::always_inline]] decltype(auto) await_suspend(std::coroutine_handle<Promise> h) noexcept(
      noexcept(inner.await_suspend(h))) {
    if constexpr (std::is_same_v<decltype(inner.await_suspend(h)), bool> &&
                  requires { std::remove_cvref_t<Awaiter>::corio_resumes_on_owner; }) {
      if (!inner.await_suspend(h)) return false;
      if (task_trace* t = h.promise().trace()) t->suspended(file, line, State, h.address());
      return true;
    } else {
      if (task_trace* t = h.promise().trace()) t->suspended(file, line, State, h.address());
      return inner.await_suspend(h);
    }
  }
  decltype(auto) await_resume() noexcept(noexcept(inner.await_resume())) {
    return inner.await_resume();
  }
};

template <task_state State, class A>
auto traced_awaiter_of(A&& a, const char* file, unsigned line) {
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
    return traced_awaiter<State, decltype(static_cast<A&&>(a).operator co_await())>{
        static_cast<A&&>(a).operator co_await(), file, line};
  } else if constexpr (requires { operator co_await(static_cast<A&&>(a)); }) {
    return traced_awaiter<State, decltype(operator co_await(static_cast<A&&>(a)))>{
        operator co_await(static_cast<A&&>(a)), file, line};
  } else {
    return traced_awaiter<State, A&>{a, file, line};
  }
}

}  // namespace detail
}  // namespace corio
