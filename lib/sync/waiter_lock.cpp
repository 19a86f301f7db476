// The waiter lock's contended path, out of line: the uncontended lock() stays a single exchange.
#include <corio/sync/waiter_lock.hpp>

#include <thread>

namespace corio::detail {

void waiter_lock::lock_contended() noexcept {
  for (int round = 0;; ++round) {
    // Wait for it to look free before trying again, without bouncing the line with writes.
    for (int spin = 0; spin < 64 && held_.load(std::memory_order_relaxed); ++spin) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (!held_.exchange(true, std::memory_order_acquire)) return;
    if (round >= 4) std::this_thread::yield();
  }
}

}  // namespace corio::detail
