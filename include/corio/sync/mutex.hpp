// An async mutex: lock() is awaited instead of blocking the thread, so a task may hold it
// across co_await (a std::mutex held across a suspension would block the whole worker).
//
//   corio::mutex m;
//   if (auto g = co_await m.lock()) {                 // result<mutex::guard>
//     co_await write_record(...);                     // exclusive across the suspension
//   }                                                 // unlocked when the guard goes
//
// Contracts: a semaphore of one permit (see semaphore.hpp): FIFO fair, cancellable (a
// cancelled lock() never ends up holding the mutex), usable across threads (the guard may be
// released on another worker than the one that locked). Not recursive: locking it again from
// the holder waits forever. Must outlive its waiters and guards. No allocation.
#pragma once

#include <coroutine>
#include <utility>

#include <corio/error.hpp>
#include <corio/sync/semaphore.hpp>

namespace corio {

class mutex {
 public:
  // Holds the mutex; unlocks when destroyed (or at unlock()).
  class [[nodiscard]] guard {
   public:
    guard() noexcept = default;
    explicit operator bool() const noexcept { return static_cast<bool>(permit_); }
    void unlock() noexcept { permit_.release(); }

   private:
    friend class mutex;
    explicit guard(semaphore::permit p) noexcept : permit_(std::move(p)) {}
    semaphore::permit permit_;
  };

  // co_await lock(): result<guard>; operation_canceled if the task was stopped while waiting.
  class [[nodiscard]] lock_awaiter : public semaphore::acquire_awaiter {
   public:
    explicit lock_awaiter(semaphore& s) noexcept : acquire_awaiter(s, 1) {}
    result<guard> await_resume() noexcept {
      auto p = acquire_awaiter::await_resume();
      if (!p) return p.error();
      return guard(std::move(*p));
    }
  };

  mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  lock_awaiter lock() noexcept { return lock_awaiter(permits_); }
  // Never waits: resource_unavailable_try_again when held (or others wait for it).
  result<guard> try_lock() noexcept {
    auto p = permits_.try_acquire(1);
    if (!p) return p.error();
    return guard(std::move(*p));
  }
  bool is_locked() const noexcept { return permits_.available() == 0; }

 private:
  semaphore permits_{1};
};

}  // namespace corio
