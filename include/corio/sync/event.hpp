// A manual-reset event for coroutines, and the waiter plumbing the sync primitives share.
// (Named manual_reset_event: corio::event is the reactor's readiness event.)
//
//   corio::manual_reset_event ready;
//   ... on any thread:       ready.set();
//   ... in a coroutine:      if (auto r = co_await ready.wait(); !r) { /* operation_canceled */ }
//
// Contracts and sharp edges:
// - set() may be called from any thread, corio or not. It resumes every waiter, each on its own
//   executor (waiters may live on different threads). Once set, wait() completes at once until
//   reset().
// - reset() does not un-wake a waiter that set() already resumed.
// - A wait whose task's stop token fires resumes with operation_canceled. When set() and the
//   cancel race, either may win; the waiter sees exactly one outcome.
// - The event must outlive its waiters and every set() call. It neither moves nor copies.
// - No allocation: each waiter is a node inside its awaiting frame.
//
// The protocol every primitive in sync/ follows (see detail/executor.hpp for the operation):
// waiters link themselves into a list under the primitive's mutex, armed (owner and stop
// callback set) before they become visible. A completer takes a waiter out of the list and
// wakes it while still holding the mutex: the cancel path's unlink() takes the same mutex, so
// the waiter's frame cannot be resumed and destroyed under the completer's feet. When wake()
// reports that a cancel won, the completer keeps what it meant to hand over.
#pragma once

#include <atomic>
#include <coroutine>
#include <mutex>
#include <stop_token>
#include <system_error>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>

namespace corio {
namespace detail {

// Resumes a linked-out waiter on its own executor. True when the hand-over stands; false when a
// cancel got there first (only possible from another thread; the cancel path then resumes it).
// `here` is current_executor(), passed in by a caller that wakes many.
inline bool wake_waiter(operation& op, const executor* here) noexcept {
  if (op.owner() == here) {
    op.complete_local();  // a cancel that raced it sees `done` and lets this result stand
    return true;
  }
  return op.complete_remote();
}
inline bool wake_waiter(operation& op) noexcept { return wake_waiter(op, current_executor()); }

// A node of a waiter_list; lives in the waiter (in its awaiting frame).
struct waiter_hook {
  waiter_hook* prev = nullptr;
  waiter_hook* next = nullptr;
  bool linked() const noexcept { return next != nullptr; }
};

// An intrusive FIFO of waiters, guarded by its owner's mutex. Node derives from waiter_hook.
template <class Node>
class waiter_list {
 public:
  waiter_list() noexcept { head_.prev = head_.next = &head_; }
  waiter_list(const waiter_list&) = delete;
  waiter_list& operator=(const waiter_list&) = delete;

  bool empty() const noexcept { return head_.next == &head_; }
  Node* front() noexcept { return empty() ? nullptr : static_cast<Node*>(head_.next); }

  void push_back(Node& node) noexcept {
    waiter_hook& n = node;
    n.prev = head_.prev;
    n.next = &head_;
    head_.prev->next = &n;
    head_.prev = &n;
  }

  Node* pop_front() noexcept {
    if (empty()) return nullptr;
    auto* node = static_cast<Node*>(head_.next);
    remove(*node);
    return node;
  }

  // A no-op for a node that is not linked.
  void remove(Node& node) noexcept {
    waiter_hook& n = node;
    if (!n.linked()) return;
    n.prev->next = n.next;
    n.next->prev = n.prev;
    n.prev = n.next = nullptr;
  }

 private:
  waiter_hook head_;
};

}  // namespace detail

class manual_reset_event {
 public:
  class [[nodiscard]] wait_awaiter final : public detail::operation, public detail::waiter_hook {
   public:
    explicit wait_awaiter(manual_reset_event& ev) noexcept : event_(&ev) {}
    wait_awaiter(const wait_awaiter&) = delete;
    wait_awaiter& operator=(const wait_awaiter&) = delete;
    ~wait_awaiter();

    bool await_ready() const noexcept { return event_->is_set(); }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
      return suspend(h, detail::stop_token_of(h));
    }
    result<void> await_resume() noexcept;

   private:
    bool suspend(std::coroutine_handle<> h, const detail::stop_ref& stop) noexcept;
    void unlink() noexcept override;

    manual_reset_event* event_;
    bool waiting_ = false;  // suspended and not yet resumed; owner thread only
  };

  manual_reset_event() noexcept = default;
  explicit manual_reset_event(bool initially_set) noexcept : set_(initially_set) {}
  manual_reset_event(const manual_reset_event&) = delete;
  manual_reset_event& operator=(const manual_reset_event&) = delete;
  ~manual_reset_event();

  // Any thread. Resumes every waiter.
  void set() noexcept;
  // Any thread. Later waits suspend again.
  void reset() noexcept { set_.store(false, std::memory_order_release); }
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

  // result<void>: empty, or operation_canceled.
  wait_awaiter wait() noexcept { return wait_awaiter(*this); }

 private:
  std::mutex lock_;
  std::atomic<bool> set_{false};
  detail::waiter_list<wait_awaiter> waiters_;  // non-empty only while not set
};

}  // namespace corio
