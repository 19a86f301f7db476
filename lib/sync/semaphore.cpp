// The semaphore's waiting side: waiters queue FIFO under its lock and are granted their
// permits before they are woken, so permits never sit unclaimed while someone they satisfy
// waits. The uncontended acquire and release are inline atomics (semaphore.hpp); everything
// here runs only once someone waits. See include/corio/sync/event.hpp for the
// wake-under-the-lock protocol.
#include <corio/sync/semaphore.hpp>

#include <cassert>

namespace corio {

semaphore::~semaphore() { assert(waiters_.empty() && "a semaphore must outlive its waiters"); }

result<semaphore::permit> semaphore::try_acquire(std::size_t n) noexcept {
  if (try_take(n)) return permit(*this, n);
  if (is_closed()) return make_error_code(sync_error::closed);
  return std::make_error_code(std::errc::resource_unavailable_try_again);
}

void semaphore::release_to_waiters() noexcept {
  std::lock_guard guard(lock_);
  grant_waiters();
}

void semaphore::close() noexcept {
  std::lock_guard guard(lock_);
  state_.fetch_or(closed_bit, std::memory_order_acq_rel);
  while (acquire_awaiter* w = waiters_.pop_front()) {
    w->closed_ = true;
    (void)detail::wake_waiter(*w);  // false: its cancel won; it reports that instead
  }
  state_.fetch_and(~queued_bit, std::memory_order_release);
}

void semaphore::grant_waiters() noexcept {
  // While queued_bit is set only this (under lock_) takes permits; releases may add some.
  while (acquire_awaiter* w = waiters_.front()) {
    const std::size_t need = w->need_ << count_shift;
    if ((state_.load(std::memory_order_acquire) & ~(closed_bit | queued_bit)) < need) return;
    waiters_.remove(*w);
    state_.fetch_sub(need, std::memory_order_acquire);
    // Its cancel won: the permits stay, for the next waiter or the fast path.
    if (!detail::wake_waiter(*w)) state_.fetch_add(need, std::memory_order_release);
  }
  // Nobody waits: the fast paths may take what is left. A release that adds permits after
  // this finds the bit clear and keeps to its fast path, which is right with no one to serve.
  state_.fetch_and(~queued_bit, std::memory_order_release);
}

bool semaphore::acquire_awaiter::suspend(std::coroutine_handle<> h,
                                         const detail::stop_ref& stop) noexcept {
  std::lock_guard guard(semaphore_->lock_);
  std::atomic<std::size_t>& state = semaphore_->state_;
  std::size_t s = state.load(std::memory_order_acquire);
  while (true) {
    if (s & closed_bit) {
      closed_ = true;
      return false;
    }
    if (s & queued_bit) break;  // others wait ahead: queue behind them
    if ((s >> count_shift) >= need_) {
      // Released since await_ready looked: take them without waiting.
      if (state.compare_exchange_weak(s, s - (need_ << count_shift), std::memory_order_acquire)) {
        return false;
      }
      continue;
    }
    // From here releases come through lock_ (to us); one that got in first changed the state
    // and fails this exchange, and the loop looks again.
    if (state.compare_exchange_weak(s, s | queued_bit, std::memory_order_acq_rel)) break;
  }
  // Armed before it is linked: a releaser on another thread finds it ready to be completed.
  if (!arm(h, stop)) {
    // Stop already requested: finish() reports it. Those behind the bit may be served now.
    semaphore_->grant_waiters();
    return false;
  }
  semaphore_->waiters_.push_back(*this);
  waiting_ = true;
  return true;
}

void semaphore::acquire_awaiter::unlink() noexcept {
  std::lock_guard guard(semaphore_->lock_);
  semaphore_->waiters_.remove(*this);
  // It may have been the head holding the queue up: those behind it may fit now.
  semaphore_->grant_waiters();
}

}  // namespace corio
