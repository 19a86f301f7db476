// The manual-reset event: waiters link under the event's mutex; set() resumes them all while
// holding it, so a racing cancel (whose unlink() takes the same mutex) never sees a waiter half
// handed over. See include/corio/sync/event.hpp for the protocol.
#include <corio/sync/event.hpp>

#include <cassert>

namespace corio {

manual_reset_event::~manual_reset_event() {
  // Waiters hold a pointer to the event: it must outlive them.
  assert(waiters_.empty());
}

void manual_reset_event::set() noexcept {
  std::lock_guard guard(lock_);
  set_.store(true, std::memory_order_release);
  while (wait_awaiter* w = waiters_.pop_front()) {
    (void)detail::wake_waiter(*w);  // false: its cancel won, and it reports operation_canceled
  }
}

manual_reset_event::wait_awaiter::~wait_awaiter() {
  disarm();
  // Only when the frame is destroyed while suspended here (its executor shutting down).
  if (waiting_) unlink();
}

bool manual_reset_event::wait_awaiter::suspend(std::coroutine_handle<> h,
                                               const detail::stop_ref& stop) noexcept {
  std::lock_guard guard(event_->lock_);
  if (event_->set_.load(std::memory_order_relaxed)) return false;
  // Armed before it is linked: a setter on another thread finds it ready to be completed.
  if (!arm(h, stop)) return false;  // stop already requested: await_resume reports it
  event_->waiters_.push_back(*this);
  waiting_ = true;
  return true;
}

result<void> manual_reset_event::wait_awaiter::await_resume() noexcept {
  disarm();
  waiting_ = false;
  if (canceled()) return std::make_error_code(std::errc::operation_canceled);
  return {};
}

void manual_reset_event::wait_awaiter::unlink() noexcept {
  std::lock_guard guard(event_->lock_);
  event_->waiters_.remove(*this);
}

}  // namespace corio
