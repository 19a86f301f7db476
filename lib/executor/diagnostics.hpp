// The executor's side of corio/diagnostics.hpp: per-executor counters the owner thread bumps
// with plain relaxed stores, and the registration that lets the process-wide watchdog thread
// (stall reports, the shutdown deadline) and the dump find every executor.
//
// Cost on the owner thread, on purpose no more: a store of the resumed frame per resume; a few
// relaxed increments per turn and per reactor wait; two clock reads around a wait that may block
// (the wait itself is a system call). The watchdog reads everything racily: a counter may
// be one turn stale, never torn.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/diagnostics.hpp>

namespace corio {
class runtime;
}

namespace corio::detail {

// A relaxed load and store, not fetch_add: only the owner thread writes, so no locked
// instruction is needed, and readers on other threads still see whole values.
inline constexpr bool hooks_on = CORIO_DIAGNOSTICS_HOOKS != 0;  // task_trace.hpp

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
  if constexpr (!hooks_on) return;
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

struct worker_counters {
  std::atomic<std::uint64_t> turns{0};
  std::atomic<std::uint64_t> resumes{0};
  std::atomic<std::uint64_t> spawned{0};
  std::atomic<std::uint64_t> finished{0};
  std::atomic<std::uint64_t> io_events{0};       // readiness events received (waker's too)
  std::atomic<std::uint64_t> io_completions{0};  // completions reaped (io_uring)
  std::atomic<std::uint64_t> timers_fired{0};
  std::atomic<std::uint64_t> remote_runs{0};  // work posted by other threads
  std::atomic<std::uint64_t> parked_ns{0};    // time blocked in the reactor
  std::atomic<std::uint64_t> ready_depth{0};  // ready queue at the start of the last turn
  std::atomic<std::uint64_t> timers_armed{0};
};

// One executor as the diagnostics see it. A member of the executor: registers on construction,
// deregisters on destruction.
class executor_diagnostics {
 public:
  explicit executor_diagnostics(spawn_link& tasks) noexcept;
  ~executor_diagnostics();
  executor_diagnostics(const executor_diagnostics&) = delete;
  executor_diagnostics& operator=(const executor_diagnostics&) = delete;

  // ---- the owner thread's hooks (executor.cpp) ----
  void run_started() noexcept { running_.store(true, std::memory_order_relaxed); }
  void run_ended() noexcept { running_.store(false, std::memory_order_relaxed); }
  void turn(std::size_t ready) noexcept {
    if constexpr (!hooks_on) return;
    bump(counters.turns);
    counters.ready_depth.store(ready, std::memory_order_relaxed);
  }
  // The frame about to run, for the stall report; the count follows once per turn.
  void resuming(void* frame) noexcept {
    if constexpr (!hooks_on) return;
    current_frame_.store(frame, std::memory_order_relaxed);
  }
  void resumed(std::size_t count) noexcept {
    bump(counters.resumes, count + std::exchange(resumed_inline_, 0));
  }
  // A coroutine resumed from dispatch, inside an operation's completion (executor::resume_now):
  // counted with the turn's others.
  void resuming_inline(void* frame) noexcept {
    if constexpr (!hooks_on) return;
    current_frame_.store(frame, std::memory_order_relaxed);
    ++resumed_inline_;
  }
  // Around the reactor wait; `may_block`: it has a non-zero timeout, so time it.
  void parking(bool may_block) noexcept {
    if constexpr (!hooks_on) return;
    parked_.store(true, std::memory_order_relaxed);
    if (may_block) park_started_ = std::chrono::steady_clock::now();
    blocking_ = may_block;
  }
  void unparked(std::size_t timers_armed, std::size_t events) noexcept {
    if constexpr (!hooks_on) return;
    bump(counters.io_events, events);
    if (blocking_) {
      const auto d = std::chrono::steady_clock::now() - park_started_;
      bump(counters.parked_ns, static_cast<std::uint64_t>(d.count()));
    }
    counters.timers_armed.store(timers_armed, std::memory_order_relaxed);
    parked_.store(false, std::memory_order_relaxed);
  }
  // The spawned-task list is read by the dump on other threads: the executor changes it only
  // under this lock (a spawn or an end, never per operation).
  // No wait/notify: notify_one() is an atomic add on a process-wide waiter table, on every
  // spawn and every end. The lock is held for a few stores (or one dump's walk), so a waiter
  // just yields.
  void lock_tasks() noexcept {
    while (tasks_lock_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
  }
  void unlock_tasks() noexcept { tasks_lock_.clear(std::memory_order_release); }

  // ---- set once by the runtime, for the labels ----
  void set_worker(const runtime* rt, std::size_t index) noexcept {
    runtime_.store(rt, std::memory_order_relaxed);
    index_.store(index, std::memory_order_relaxed);
  }

  worker_counters counters;

 private:
  friend struct diagnostics_access;
  spawn_link& tasks_;
  std::atomic_flag tasks_lock_;
  std::atomic<bool> running_{false};
  std::atomic<bool> parked_{false};
  std::atomic<void*> current_frame_{nullptr};
  std::atomic<const runtime*> runtime_{nullptr};
  std::atomic<std::size_t> index_{0};
  int thread_id_;
  std::chrono::steady_clock::time_point created_;
  std::chrono::steady_clock::time_point park_started_;  // owner thread only
  bool blocking_ = false;                               // owner thread only
  std::uint64_t resumed_inline_ = 0;                    // owner thread only
  executor_diagnostics* next_ = nullptr;                // the registry's list
  executor_diagnostics* prev_ = nullptr;
  // The watchdog's view, under the registry's lock. Here rather than in a side table keyed by
  // address: a new executor often reuses the address of one just destroyed.
  struct watch_state {
    std::uint64_t turns = 0;
    std::chrono::steady_clock::time_point since{};
    bool reported = false;
  } watch_;
};

}  // namespace corio::detail
