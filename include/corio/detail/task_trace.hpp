// What the diagnostics (corio/diagnostics.hpp) know about a spawned task: where it was spawned,
// where it last suspended, on what, and since when. Written on the task's own thread by plain
// relaxed stores (three per co_await that suspends; the time is a load of the watchdog's coarse
// clock); read racily but safely by the dump and the stall watchdog on other threads.
//
// The suspend site comes from task's await_transform (await_tracing, below), whose defaulted
// arguments are evaluated at the co_await expression. With __builtin_source_location under
// libstdc++ (g++; clang from 15) a site is one pointer to a static record, so a co_await's site
// and what it waits on fit one word of constant: the awaiter stores one word per co_await and a
// suspension copies it. clang 14 has no __builtin_source_location: there a site is a file and a
// line, one more store each way.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <version>

// libstdc++'s std::source_location is exactly the pointer __builtin_source_location gives.
#if defined(__GLIBCXX__) && defined(__cpp_lib_source_location)
#include <bit>
#include <source_location>
#define CORIO_SITE_RECORDS 1
#else
#define CORIO_SITE_RECORDS 0
#endif

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

// Where a co_await is and what it waits on, as the suspension noted it.
struct suspend_note {
  const char* file = nullptr;  // null: the task has not suspended yet
  unsigned line = 0;
  task_state state = task_state::not_started;
};

// site_note<S>: what a traced awaiter keeps of its co_await, made from await_transform's
// defaulted arguments (await_tracing, below): scalars, because g++ keeps a class-type argument
// of a co_await in the frame, one more store. suspend_site_cell: the task's copy of the last.
#if CORIO_SITE_RECORDS
// One word: the address of the site's std::source_location record (it holds pointers, so it is
// 8-aligned) plus the state in the three low bits. A constant at each co_await.
inline constexpr std::uintptr_t state_mask = 7;
static_assert(static_cast<std::uintptr_t>(task_state::other) <= state_mask);
static_assert(sizeof(std::source_location) == sizeof(std::uintptr_t),
              "std::source_location is expected to be one pointer to a per-site record");
using site_record = decltype(__builtin_source_location());  // what source_location wraps

template <task_state S>
struct site_note {
  std::uintptr_t word;
  [[gnu::always_inline]] explicit site_note(site_record at) noexcept
      : word(reinterpret_cast<std::uintptr_t>(at) + static_cast<std::uintptr_t>(S)) {
    assert((reinterpret_cast<std::uintptr_t>(at) & state_mask) == 0 &&
           "a std::source_location record must be 8-aligned");
  }
};

struct suspend_site_cell {
  std::atomic<std::uintptr_t> word{static_cast<std::uintptr_t>(task_state::not_started)};

  template <task_state S>
  [[gnu::always_inline]] void store(const site_note<S>& n) noexcept {
    word.store(n.word, std::memory_order_relaxed);
  }
  suspend_note load() const noexcept {
    const std::uintptr_t w = word.load(std::memory_order_relaxed);
    const auto s = static_cast<task_state>(w & state_mask);
    if (w <= state_mask) return {nullptr, 0, s};
    const auto at = std::bit_cast<std::source_location>(w & ~state_mask);
    return {at.file_name(), static_cast<unsigned>(at.line()), s};
  }
};
#else
// A file and a line (clang 14: no std::source_location). The line and the state share a word.
template <task_state S>
struct site_note {
  const char* file;
  std::uint32_t line_and_state;
  [[gnu::always_inline]] site_note(const char* f, unsigned line) noexcept
      : file(f), line_and_state((static_cast<std::uint32_t>(line) << 8) |
                                static_cast<std::uint32_t>(S)) {}
};

struct suspend_site_cell {
  std::atomic<const char*> file{nullptr};
  std::atomic<std::uint32_t> line_and_state{static_cast<std::uint32_t>(task_state::not_started)};

  template <task_state S>
  [[gnu::always_inline]] void store(const site_note<S>& n) noexcept {
    file.store(n.file, std::memory_order_relaxed);
    line_and_state.store(n.line_and_state, std::memory_order_relaxed);
  }
  // The two words may come from two suspensions; the dump is a racy snapshot anyway.
  suspend_note load() const noexcept {
    const std::uint32_t ls = line_and_state.load(std::memory_order_relaxed);
    return {file.load(std::memory_order_relaxed), ls >> 8, static_cast<task_state>(ls & 0xFF)};
  }
};
#endif

// A process-wide coarse clock in milliseconds, advanced by the diagnostics watchdog thread
// (every few tens of ms while any executor exists). Tasks copy it when they suspend: the dump
// tells how long they waited without a clock read on the hot path.
extern std::atomic<std::uint32_t> coarse_clock_ms;

struct task_trace {
  source_site spawned_at;
  suspend_site_cell suspend_site;
  std::atomic<std::uint32_t> since_ms{0};
  // The frame that last suspended (the innermost task of this spawn): the executor knows which
  // frame it resumed, and the stall report finds the task by it.
  std::atomic<void*> frame{nullptr};

  suspend_note last_suspend() const noexcept { return suspend_site.load(); }

  // Inlined into every co_await of a task that suspends: a call would cost more than the stores.
  template <task_state S>
  [[gnu::always_inline]] void suspended(const site_note<S>& site, void* at) noexcept {
    suspend_site.store(site);
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
  site_note<State> site;
  bool await_ready() noexcept(noexcept(inner.await_ready())) { return inner.await_ready(); }
  // Inlined: a call here would be a second call around the inner awaiter's own await_suspend.
  template <class Promise>
  [[gnu::always_inline]] decltype(auto) await_suspend(std::coroutine_handle<Promise> h) noexcept(
      noexcept(inner.await_suspend(h))) {
    if constexpr (std::is_same_v<decltype(inner.await_suspend(h)), bool> &&
                  requires { std::remove_cvref_t<Awaiter>::corio_resumes_on_owner; }) {
      if (!inner.await_suspend(h)) return false;
      if (task_trace* t = h.promise().trace()) t->suspended(site, h.address());
      return true;
    } else {
      if (task_trace* t = h.promise().trace()) t->suspended(site, h.address());
      return inner.await_suspend(h);
    }
  }
  decltype(auto) await_resume() noexcept(noexcept(inner.await_resume())) {
    return inner.await_resume();
  }
};

template <class A, class... Site>
auto traced_awaiter_of(A&& a, Site... at) {
  constexpr task_state state = wait_state_of<A>();
  if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
    return traced_awaiter<state, decltype(static_cast<A&&>(a).operator co_await())>{
        static_cast<A&&>(a).operator co_await(), site_note<state>(at...)};
  } else if constexpr (requires { operator co_await(static_cast<A&&>(a)); }) {
    return traced_awaiter<state, decltype(operator co_await(static_cast<A&&>(a)))>{
        operator co_await(static_cast<A&&>(a)), site_note<state>(at...)};
  } else {
    return traced_awaiter<state, A&>{a, site_note<state>(at...)};
  }
}

// A promise that derives from this traces its co_awaits (task's does). The defaulted
// arguments are evaluated at the co_await, which is the point. Empty without the hooks: no
// await_transform at all then.
struct await_tracing {
#if !CORIO_DIAGNOSTICS_HOOKS
#elif CORIO_SITE_RECORDS
  template <class A>
  auto await_transform(A&& awaitable, site_record at = __builtin_source_location()) {
    return traced_awaiter_of(static_cast<A&&>(awaitable), at);
  }
#else
  template <class A>
  auto await_transform(A&& awaitable, const char* file = __builtin_FILE(),
                       unsigned line = __builtin_LINE()) {
    return traced_awaiter_of(static_cast<A&&>(awaitable), file, line);
  }
#endif
};

}  // namespace detail
}  // namespace corio
