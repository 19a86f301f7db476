// corio::signal_set: a detail::signal_pipe whose read end is registered with the executor, read
// by an io_operation. Records are read in batches into a small buffer; wait() hands them out
// one at a time, and suspends only after the pipe reported EAGAIN (edge-triggered readiness).
#include <corio/signal_set.hpp>

#include <array>
#include <cstddef>
#include <utility>

#include "driver/signals.hpp"

namespace corio {

struct signal_set::state {
  explicit state(detail::signal_pipe p) noexcept : pipe(std::move(p)) {}

  detail::signal_pipe pipe;
  detail::io_registration registration;  // declared after pipe: removed before it closes
  std::array<signal_info, 16> buffer{};
  std::size_t head = 0;
  std::size_t count = 0;
};

signal_set::signal_set() noexcept = default;
signal_set::signal_set(signal_set&& other) noexcept = default;
signal_set& signal_set::operator=(signal_set&& other) noexcept = default;
signal_set::~signal_set() = default;

result<void> signal_set::add(int signo) {
  if (!state_) {
    auto pipe = detail::signal_pipe::open();
    if (!pipe) return pipe.error();
    state_ = std::make_unique<state>(std::move(*pipe));
  }
  return state_->pipe.watch(signo);
}

result<void> signal_set::remove(int signo) {
  if (!state_) return error::not_registered;
  return state_->pipe.unwatch(signo);
}

bool signal_set::wait_awaiter::await_ready() noexcept {
  state* s = set_.state_.get();
  if (!s) {
    error_ = make_error_code(error::not_registered);
    return true;
  }
  if (!s->registration) {
    auto reg = detail::io_registration::open(s->pipe.read_fd());
    if (!reg) {
      error_ = reg.error();
      return true;
    }
    s->registration = std::move(*reg);
  }
  return perform();
}

bool signal_set::wait_awaiter::suspend_on(std::coroutine_handle<> h,
                                          const detail::stop_ref& stop) noexcept {
  if (suspend(h, stop, set_.state_->registration, direction::read)) return true;
  error_ = suspend_error();  // empty when a stop was already requested: canceled() tells
  return false;
}

bool signal_set::wait_awaiter::perform() noexcept {
  state& s = *set_.state_;
  if (s.count == 0) {
    s.head = 0;
    s.count = s.pipe.drain(s.buffer);  // 0 only once the pipe said EAGAIN
    if (s.count == 0) return false;
  }
  info_ = s.buffer[s.head++];
  --s.count;
  got_ = true;
  return true;
}

result<signal_info> signal_set::wait_awaiter::await_resume() noexcept {
  disarm();
  if (got_) return info_;  // a record that raced a cancel is delivered, not dropped
  if (error_) return error_;
  if (canceled()) return std::make_error_code(std::errc::operation_canceled);
  return std::make_error_code(std::errc::io_error);  // unreachable: resumed without a record
}

}  // namespace corio
