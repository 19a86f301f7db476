// Awaitable process signals.
//
//   corio::signal_set sigs;
//   sigs.add(SIGINT).value();
//   sigs.add(SIGTERM).value();
//   auto s = co_await sigs.wait();      // result<signal_info>; operation_canceled if stopped
//
// Contracts (signal.hpp has the sharp edge: records coalesce):
// - add() installs corio's handler for the signal (process-wide, shared with every other
//   watcher); removing the last watcher of a signal, or destroying the last set that watches
//   it, restores the disposition that was there before.
// - Several signal_sets, on any threads, may watch the same signal: each gets its own record.
// - wait() is used on one thread, one wait at a time per set (a second concurrent wait fails
//   with device_or_resource_busy). The first wait registers the set with that thread's
//   executor; destroy the set on that thread while its executor lives (like a socket).
// - wait() on a set that never watched anything fails with not_registered.
// - Records already read from the pipe before remove() may still be delivered.
#pragma once

#include <coroutine>
#include <memory>
#include <stop_token>
#include <system_error>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/signal.hpp>

namespace corio {

class signal_set {
 public:
  class wait_awaiter;

  signal_set() noexcept;
  signal_set(signal_set&& other) noexcept;
  signal_set& operator=(signal_set&& other) noexcept;
  ~signal_set();

  // EINVAL for SIGKILL, SIGSTOP and numbers outside 1..64; adding a signal twice is a no-op.
  result<void> add(int signo);
  // not_registered when this set does not watch signo.
  result<void> remove(int signo);

  // The next signal this set watches that arrives (or arrived since the last wait).
  wait_awaiter wait() noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

class [[nodiscard]] signal_set::wait_awaiter final : public detail::io_operation {
 public:
  explicit wait_awaiter(signal_set& set) noexcept : set_(set) {}

  // Registers on first use and takes a record already there, if any.
  bool await_ready() noexcept;
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return suspend_on(h, detail::stop_token_of(h));
  }
  result<signal_info> await_resume() noexcept;

  bool perform() noexcept override;

 private:
  bool suspend_on(std::coroutine_handle<> h, const detail::stop_ref& stop) noexcept;

  signal_set& set_;
  signal_info info_{};
  bool got_ = false;
  std::error_code error_;
};

inline signal_set::wait_awaiter signal_set::wait() noexcept { return wait_awaiter(*this); }

}  // namespace corio
