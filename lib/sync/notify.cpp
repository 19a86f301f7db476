// notify: one stored permit for notify_one, a generation counter for notify_waiters. See
// include/corio/sync/event.hpp for the wake-under-the-mutex protocol.
#include <corio/sync/notify.hpp>

#include <cassert>

namespace corio {

notify::~notify() { assert(waiters_.empty() && "a notify must outlive its waiters"); }

void notify::notify_one() noexcept {
  std::lock_guard guard(lock_);
  while (notified_awaiter* w = waiters_.pop_front()) {
    if (detail::wake_waiter(*w)) return;
    // Its cancel won: the notification goes on to the next waiter.
  }
  permit_ = true;
}

void notify::notify_waiters() noexcept {
  std::lock_guard guard(lock_);
  ++generation_;
  while (notified_awaiter* w = waiters_.pop_front()) (void)detail::wake_waiter(*w);
}

notify::notified_awaiter::notified_awaiter(notify& n) noexcept : notify_(&n) {
  std::lock_guard guard(n.lock_);
  generation_ = n.generation_;
}

notify::notified_awaiter::~notified_awaiter() {
  disarm();
  if (waiting_) unlink();
}

bool notify::notified_awaiter::suspend(std::coroutine_handle<> h,
                                       const detail::stop_ref& stop) noexcept {
  std::lock_guard guard(notify_->lock_);
  if (notify_->generation_ != generation_) return false;  // a notify_waiters() since creation
  if (notify_->permit_) {
    notify_->permit_ = false;
    return false;
  }
  if (!arm(h, stop)) return false;
  notify_->waiters_.push_back(*this);
  waiting_ = true;
  return true;
}

result<void> notify::notified_awaiter::await_resume() noexcept {
  disarm();
  waiting_ = false;
  if (canceled()) return std::make_error_code(std::errc::operation_canceled);
  return {};
}

void notify::notified_awaiter::unlink() noexcept {
  std::lock_guard guard(notify_->lock_);
  notify_->waiters_.remove(*this);
}

}  // namespace corio
