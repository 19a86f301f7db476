// A counting semaphore for coroutines: permits are acquired (waiting while too few are left)
// and released, by RAII permits or by hand.
//
//   corio::semaphore slots(8);                        // at most 8 concurrent uploads
//   auto permit = co_await slots.acquire();           // result<semaphore::permit>
//   if (!permit) co_return;                           // operation_canceled or sync_error::closed
//   co_await upload(...);                             // the permit returns when it goes out of scope
//
// Contracts and sharp edges:
// - Fair: acquires are granted in the order they started waiting, and an acquire(n) at the
//   head waits until n permits are free even if later, smaller ones would fit (no starvation).
//   An acquire that finds nobody waiting and enough permits takes them at once, without
//   yielding.
// - release(n) and the permit's destructor may run on any thread; a woken waiter resumes on
//   its own executor. Permits handed to a waiter whose cancel won go back to the pool (and on
//   to the next waiter), so a cancelled acquire never leaks permits, nor holds up the queue.
// - close(): pending and later acquires fail with sync_error::closed; permits still held may be
//   released normally.
// - try_acquire(n) never waits: resource_unavailable_try_again when it would.
// - The semaphore must outlive its waiters and permits. No allocation: waiters live in their
//   frames.
// - Cost: with nobody waiting, acquire is one compare-and-swap on the permit count and release
//   one atomic add, both inlined; the waiter list and its lock are touched only when an acquire
//   has to wait (tokio's batch semaphore does the same). At most SIZE_MAX / 4 permits.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <mutex>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/sync/event.hpp>
#include <corio/sync/sync_error.hpp>
#include <corio/sync/waiter_lock.hpp>

namespace corio {

class semaphore {
 public:
  // Permits taken from a semaphore; gives them back when destroyed (unless forgotten).
  class [[nodiscard]] permit {
   public:
    permit() noexcept = default;
    permit(permit&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), count_(std::exchange(other.count_, 0)) {}
    permit& operator=(permit&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        count_ = std::exchange(other.count_, 0);
      }
      return *this;
    }
    ~permit() { release(); }

    std::size_t count() const noexcept { return count_; }
    explicit operator bool() const noexcept { return owner_ != nullptr; }
    // Gives the permits back now.
    void release() noexcept {
      if (owner_) std::exchange(owner_, nullptr)->release(std::exchange(count_, 0));
    }
    // Keeps them taken for good (the semaphore's capacity shrinks by count()).
    void forget() noexcept {
      owner_ = nullptr;
      count_ = 0;
    }

   private:
    friend class semaphore;
    permit(semaphore& s, std::size_t n) noexcept : owner_(&s), count_(n) {}
    semaphore* owner_ = nullptr;
    std::size_t count_ = 0;
  };

  // co_await acquire(n): result<permit>.
  class [[nodiscard]] acquire_awaiter : public detail::operation, public detail::waiter_hook {
   public:
    acquire_awaiter(semaphore& s, std::size_t n) noexcept : semaphore_(&s), need_(n) {}
    acquire_awaiter(const acquire_awaiter&) = delete;
    acquire_awaiter& operator=(const acquire_awaiter&) = delete;
    ~acquire_awaiter() {
      disarm();
      if (waiting_) [[unlikely]] unlink();  // the frame died suspended here (executor shut down)
    }

    // The permits are free and nobody waits for them: taken, without suspending.
    bool await_ready() noexcept { return semaphore_->try_take(need_); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
      return suspend(h, detail::stop_token_of(h));
    }
    result<permit> await_resume() noexcept {
      const std::error_code ec = finish();
      if (ec) return ec;
      return permit(*semaphore_, need_);
    }

   protected:
    // Empty when the permits are ours.
    std::error_code finish() noexcept {
      disarm();
      waiting_ = false;
      if (canceled()) [[unlikely]] return std::make_error_code(std::errc::operation_canceled);
      if (closed_) [[unlikely]] return sync_error::closed;
      return {};
    }
    semaphore& owner() const noexcept { return *semaphore_; }

   private:
    friend class semaphore;
    bool suspend(std::coroutine_handle<> h, const detail::stop_ref& stop) noexcept;
    void unlink() noexcept override;

    semaphore* semaphore_;
    std::size_t need_;
    bool waiting_ = false;
    bool closed_ = false;
  };

  explicit semaphore(std::size_t permits) noexcept : state_(permits << count_shift) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;
  ~semaphore();

  // result<permit>: n permits (n > 0), operation_canceled, or sync_error::closed.
  acquire_awaiter acquire(std::size_t n = 1) noexcept { return acquire_awaiter(*this, n); }
  // Never waits: resource_unavailable_try_again when the permits are not free now (or others
  // wait ahead), sync_error::closed after close().
  result<permit> try_acquire(std::size_t n = 1) noexcept;
  // Any thread: adds n permits, waking waiters they satisfy.
  void release(std::size_t n = 1) noexcept {
    const std::size_t before = state_.fetch_add(n << count_shift, std::memory_order_acq_rel);
    if (before & queued_bit) [[unlikely]] release_to_waiters();
  }
  // Fails every pending and later acquire with sync_error::closed.
  void close() noexcept;

  std::size_t available() const noexcept {
    return state_.load(std::memory_order_acquire) >> count_shift;
  }
  bool is_closed() const noexcept { return state_.load(std::memory_order_acquire) & closed_bit; }

 private:
  // state_: the free permits, shifted, and two flags. queued_bit is set (under lock_) before a
  // waiter links itself and cleared once the list is empty: while it is set the fast paths
  // stay out, so waiters are served in order, and a release goes through lock_ to them. A
  // release that raced a waiter setting the bit is seen either by the waiter's compare-and-swap
  // (it takes the permits itself) or, after it, by the release (which hands them over).
  static constexpr std::size_t closed_bit = 1;
  static constexpr std::size_t queued_bit = 2;
  static constexpr int count_shift = 2;

  // Any thread: takes n permits if they are free and nobody waits or closed it.
  bool try_take(std::size_t n) noexcept {
    std::size_t s = state_.load(std::memory_order_relaxed);
    while (!(s & (closed_bit | queued_bit)) && (s >> count_shift) >= n) {
      if (state_.compare_exchange_weak(s, s - (n << count_shift), std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  void release_to_waiters() noexcept;
  void grant_waiters() noexcept;  // under lock_

  detail::waiter_lock lock_;  // guards waiters_, and setting queued_bit
  std::atomic<std::size_t> state_;
  detail::waiter_list<acquire_awaiter> waiters_;
};

}  // namespace corio
