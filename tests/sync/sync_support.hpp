// Helpers the sync primitives' tests share.
#pragma once

#include <chrono>
#include <coroutine>
#include <system_error>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/runtime.hpp>
#include <corio/task.hpp>

namespace sync_test {

// Lets every task already scheduled on this thread run once before we continue.
struct yield_now {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    corio::detail::schedule(*corio::detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};

inline corio::task<> yield_times(int n) {
  for (int i = 0; i < n; ++i) co_await yield_now{};
}

inline bool is_canceled(std::error_code ec) { return ec == std::errc::operation_canceled; }
inline bool is_closed(std::error_code ec) { return ec == corio::error::channel_closed; }

// Two workers: the cross-thread tests put one side on each.
inline corio::runtime_options two_workers() {
  corio::runtime_options o;
  o.threads = 2;
  return o;
}

}  // namespace sync_test
