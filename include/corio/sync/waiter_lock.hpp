// The lock that guards a sync primitive's waiter list and state.
//
// Its critical sections are a few pointer moves and, at most, a post to another executor, so a
// lock that spins briefly (then yields the thread) is enough: taking it is one atomic exchange
// and releasing it a plain release store, inlined -- where std::mutex costs two atomic
// read-modify-writes behind two calls into libc. The primitives' fast paths take it once per
// operation, so this is most of their cost.
#pragma once

#include <atomic>

namespace corio::detail {

class waiter_lock {
 public:
  waiter_lock() noexcept = default;
  waiter_lock(const waiter_lock&) = delete;
  waiter_lock& operator=(const waiter_lock&) = delete;

  void lock() noexcept {
    if (!held_.exchange(true, std::memory_order_acquire)) [[likely]] return;
    lock_contended();
  }
  bool try_lock() noexcept { return !held_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  // Spins a little, then yields the thread between attempts: the holder may have been
  // preempted, and on a machine with few cores spinning would only delay it.
  void lock_contended() noexcept;

  std::atomic<bool> held_{false};
};

}  // namespace corio::detail
