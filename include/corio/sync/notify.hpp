// notify: wake one waiting task, or all of them, without a value (tokio::sync::Notify).
//
//   corio::notify work_ready;
//   ... producer, any thread:   queue.push(job); work_ready.notify_one();
//   ... consumer:               while (queue.empty()) co_await work_ready.notified();
//
// Contracts and sharp edges:
// - notify_one() wakes the longest-waiting notified(); when nobody waits it stores one permit
//   (at most one: several calls store one), and the next notified() takes it and completes at
//   once. So a notify_one() that comes between the consumer's check and its co_await is not
//   lost.
// - notify_waiters() wakes every notified() created before the call (even one not yet
//   suspended: it captures a generation when created), and stores no permit.
// - A notified() whose task is stopped resumes with operation_canceled. A notify_one() that
//   raced its cancel goes to the next waiter (or becomes the stored permit): it is not lost.
// - Any thread may notify; waiters resume on their own executors. The notify must outlive its
//   waiters. No allocation.
#pragma once

#include <coroutine>
#include <cstdint>
#include <mutex>
#include <system_error>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/sync/event.hpp>

namespace corio {

class notify {
 public:
  class [[nodiscard]] notified_awaiter final : public detail::operation,
                                               public detail::waiter_hook {
   public:
    explicit notified_awaiter(notify& n) noexcept;
    notified_awaiter(const notified_awaiter&) = delete;
    notified_awaiter& operator=(const notified_awaiter&) = delete;
    ~notified_awaiter();

    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
      return suspend(h, detail::stop_token_of(h));
    }
    // Empty, or operation_canceled.
    result<void> await_resume() noexcept;

   private:
    bool suspend(std::coroutine_handle<> h, const detail::stop_ref& stop) noexcept;
    void unlink() noexcept override;

    notify* notify_;
    std::uint64_t generation_;  // notify_waiters() calls seen when created
    bool waiting_ = false;
  };

  notify() noexcept = default;
  notify(const notify&) = delete;
  notify& operator=(const notify&) = delete;
  ~notify();

  notified_awaiter notified() noexcept { return notified_awaiter(*this); }
  void notify_one() noexcept;
  void notify_waiters() noexcept;

 private:
  std::mutex lock_;
  bool permit_ = false;
  std::uint64_t generation_ = 0;
  detail::waiter_list<notified_awaiter> waiters_;
};

}  // namespace corio
