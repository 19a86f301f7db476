// The semaphore: waiters queue FIFO under its mutex and are granted their permits before they
// are woken, so permits never sit unclaimed while someone they satisfy waits. See
// include/corio/sync/event.hpp for the wake-under-the-mutex protocol.
#include <corio/sync/semaphore.hpp>

#include <cassert>

namespace corio {

semaphore::~semaphore() { assert(waiters_.empty() && "a semaphore must outlive its waiters"); }

result<semaphore::permit> semaphore::try_acquire(std::size_t n) noexcept {
  std::lock_guard guard(lock_);
  if (closed_) return make_error_code(sync_error::closed);
  if (!waiters_.empty() || permits_ < n) {
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  permits_ -= n;
  return permit(*this, n);
}

void semaphore::release(std::size_t n) noexcept {
  std::lock_guard guard(lock_);
  permits_ += n;
  grant_waiters();
}

void semaphore::close() noexcept {
  std::lock_guard guard(lock_);
  closed_ = true;
  while (acquire_awaiter* w = waiters_.pop_front()) {
    w->closed_ = true;
    (void)detail::wake_waiter(*w);  // false: its cancel won; it reports that instead
  }
}

std::size_t semaphore::available() const noexcept {
  std::lock_guard guard(lock_);
  return permits_;
}

bool semaphore::is_closed() const noexcept {
  std::lock_guard guard(lock_);
  return closed_;
}

void semaphore::grant_waiters() noexcept {
  while (acquire_awaiter* w = waiters_.front()) {
    if (w->need_ > permits_) return;  // FIFO: later waiters wait behind it
    waiters_.remove(*w);
    permits_ -= w->need_;
    if (!detail::wake_waiter(*w)) permits_ += w->need_;  // its cancel won: the permits stay
  }
}

semaphore::acquire_awaiter::~acquire_awaiter() {
  disarm();
  if (waiting_) unlink();  // the frame died suspended here (its executor shut down)
}

bool semaphore::acquire_awaiter::suspend(std::coroutine_handle<> h,
                                         const detail::stop_ref& stop) noexcept {
  std::lock_guard guard(semaphore_->lock_);
  if (semaphore_->closed_) {
    closed_ = true;
    return false;
  }
  if (semaphore_->waiters_.empty() && semaphore_->permits_ >= need_) {
    semaphore_->permits_ -= need_;
    return false;
  }
  if (!arm(h, stop)) return false;  // stop already requested: finish() reports it
  semaphore_->waiters_.push_back(*this);
  waiting_ = true;
  return true;
}

std::error_code semaphore::acquire_awaiter::finish() noexcept {
  disarm();
  waiting_ = false;
  if (canceled()) return std::make_error_code(std::errc::operation_canceled);
  if (closed_) return sync_error::closed;
  return {};
}

void semaphore::acquire_awaiter::unlink() noexcept {
  std::lock_guard guard(semaphore_->lock_);
  semaphore_->waiters_.remove(*this);
  // It may have been the head holding the queue up: those behind it may fit now.
  semaphore_->grant_waiters();
}

}  // namespace corio
