// Seeing inside a running service: a stall watchdog, a live task dump and per-worker metrics.
//
//   std::fputs(corio::dump().c_str(), stderr);      // every executor of the process, every task
//   for (const auto& m : corio::metrics()) ...       // counters, as values
//   rt.dump(); rt.metrics();                         // one corio::runtime's workers only
//
// - Stall watchdog. One thread per process, while any executor exists. A worker that has not
//   come back to its reactor for longer than runtime_options::stall_threshold (default 500 ms;
//   CORIO_STALL_MS overrides, 0 turns it off) is reported once per stall on stderr: the worker,
//   for how long, and the task running there (where it was spawned, its last co_await).
// - Shutdown deadline. When SIGTERM or SIGINT reaches a corio signal_set (the service's way of
//   being told to stop) and the process has not exited runtime_options::shutdown_deadline later
//   (default 1500 ms; CORIO_SHUTDOWN_DEADLINE_MS overrides, 0 turns it off), the watchdog prints
//   the dump and ends the process with std::_Exit(3): a task stuck in user code cannot hold a
//   service past what its supervisor allows. Status 3 says the exit was forced.
// - Sites. A task's spawn site is where spawn()/spawn_on()/block_on() was called; its suspend
//   site is its last co_await (inside a corio::task; an awaiter of its own coroutine type is not
//   seen). A task's state is what that co_await waited on; a task whose wait completed but that
//   has not run yet still shows it (the dump says which task is running now).
// - The settings are process-wide: the last runtime or block_on to start sets them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <corio/detail/task_trace.hpp>

namespace corio {

class runtime;

struct worker_metrics {
  const runtime* owner = nullptr;  // null: a block_on executor (or one made by hand)
  std::size_t worker = 0;          // the worker's index in its runtime
  std::uint64_t turns = 0;         // passes of the run loop
  std::uint64_t resumes = 0;       // coroutines resumed from the ready queue
  std::uint64_t tasks_spawned = 0;
  std::uint64_t tasks_alive = 0;
  std::uint64_t io_events = 0;       // readiness events received (epoll)
  std::uint64_t io_completions = 0;  // kernel completions reaped (io_uring)
  std::uint64_t timers_fired = 0;
  std::uint64_t remote_runs = 0;  // work other threads posted (spawn_on, wakeups, cancels)
  std::uint64_t ready_depth = 0;  // ready queue length when the last turn began
  std::uint64_t timers_armed = 0;
  std::chrono::nanoseconds parked{0};   // blocked in the reactor
  std::chrono::nanoseconds running{0};  // alive and not parked
};

// Every executor alive in the process, in the order they were made.
std::vector<worker_metrics> metrics();
// The text view: per executor its metrics, then every live task (spawn site, state, last
// co_await site, how long it has waited). Safe from any thread, also while a worker is stuck.
std::string dump();

std::string_view to_string(task_state s) noexcept;

namespace detail {
// Process-wide settings (runtime_options; the environment overrides them). 0 = off.
void configure_diagnostics(std::chrono::milliseconds stall_threshold,
                           std::chrono::milliseconds shutdown_deadline) noexcept;
std::vector<worker_metrics> metrics_of(const runtime* only);
std::string dump_of(const runtime* only);
// Where the watchdog's reports go instead of stderr (tests); nullptr: back to stderr.
void set_diagnostics_sink(void (*to)(std::string_view)) noexcept;
// join()s and joiners outside the workers wait with the stop signals blocked, so that the
// kernel hands SIGINT/SIGTERM/SIGHUP/SIGUSR1 to a thread that can run the handler (under
// ThreadSanitizer a thread parked in a futex never does).
class stop_signals_blocked {
 public:
  stop_signals_blocked() noexcept;
  ~stop_signals_blocked();
  stop_signals_blocked(const stop_signals_blocked&) = delete;
  stop_signals_blocked& operator=(const stop_signals_blocked&) = delete;

 private:
  alignas(8) unsigned char saved_[128];  // a sigset_t, without <signal.h> here
  bool restore_ = false;
};
}  // namespace detail

}  // namespace corio
