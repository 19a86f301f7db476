// Time for coroutines: sleep_for and sleep_until on the calling thread's timer wheel.
//
//   co_await corio::sleep_for(50ms);              // result<void>: operation_canceled if stopped
//
// Timers have millisecond resolution and round up: a sleep never ends early, and a 0.3 ms sleep
// lasts until the next millisecond tick. The timer lives in the awaiting frame: no allocation.
#pragma once

#include <chrono>
#include <coroutine>
#include <system_error>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>

namespace corio {

class [[nodiscard]] sleep_awaiter final : public detail::timer_operation {
 public:
  explicit sleep_awaiter(std::chrono::nanoseconds d) noexcept : delay_(d), absolute_(false) {}
  explicit sleep_awaiter(std::chrono::steady_clock::time_point t) noexcept
      : until_(t), absolute_(true) {}

  bool await_ready() const noexcept {
    return absolute_ ? until_ <= std::chrono::steady_clock::now()
                     : delay_ <= std::chrono::nanoseconds::zero();
  }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    detail::executor* ex = detail::current_executor();
    const detail::tick deadline = absolute_ ? detail::deadline_at(*ex, until_)
                                            : detail::deadline_after(*ex, delay_);
    return suspend(h, detail::stop_token_of(h), deadline);
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

inline sleep_awaiter sleep_until(std::chrono::steady_clock::time_point t) noexcept {
  return sleep_awaiter(t);
}

}  // namespace corio
