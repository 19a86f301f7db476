// A watch channel: one sender publishes the latest value, receivers wait for a newer one.
//
//   auto [tx, rx] = corio::make_watch<config>(initial);
//   tx.send(next);                                    // any thread; replaces the value
//   while (co_await rx.changed()) apply(rx.borrow_and_update());
//
// Contracts and sharp edges:
// - Only the latest value is kept; a receiver that was slow sees the newest one, never a queue
//   of the ones in between. Each value has a version; a receiver remembers the version it has
//   seen, and changed() completes once a newer one exists, marking it seen.
// - A new receiver (make_watch's, subscribe(), or a copy of a receiver) starts having seen the
//   current value (a copy: what the original had seen). borrow() reads without marking.
// - send() stores the value even when no receiver exists (a later subscribe() sees it) and
//   reports channel_closed then, so a producer can notice nobody listens.
// - When the sender is gone, changed() still reports a version the receiver has not seen, and
//   after that channel_closed. The value stays readable.
// - Values are copied out under the channel's mutex: keep T cheap to copy (or a shared_ptr).
// - Cancellation: a pending changed() whose task is stopped resumes with operation_canceled
//   and marks nothing seen.
// - Allocation: make_watch allocates the state once; waiters live in their frames.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/sync/event.hpp>

namespace corio {

template <class T>
class watch_sender;
template <class T>
class watch_receiver;

namespace detail {

template <class T>
class watch_changed;

template <class T>
struct watch_state {
  template <class U>
  explicit watch_state(U&& initial) : value(std::forward<U>(initial)) {}

  std::mutex lock;
  T value;
  std::uint64_t version = 0;
  std::size_t receivers = 0;
  bool sender_gone = false;
  waiter_list<watch_changed<T>> waiters;

  // Under `lock`.
  void wake_all() noexcept {
    // A waiter whose cancel won marked nothing seen: it loses nothing.
    while (watch_changed<T>* w = waiters.pop_front()) (void)wake_waiter(*w);
  }
};

// co_await rx.changed(): result<void>.
template <class T>
class [[nodiscard]] watch_changed final : public operation, public waiter_hook {
 public:
  watch_changed(watch_state<T>& state, std::uint64_t& seen) noexcept
      : state_(&state), seen_(&seen) {}
  watch_changed(const watch_changed&) = delete;
  watch_changed& operator=(const watch_changed&) = delete;
  ~watch_changed() {
    disarm();
    if (waiting_) unlink();
  }

  bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    std::lock_guard guard(state_->lock);
    if (state_->version > *seen_ || state_->sender_gone) return false;
    if (!arm(h, stop_token_of(h))) return false;
    state_->waiters.push_back(*this);
    waiting_ = true;
    return true;
  }

  result<void> await_resume() noexcept {
    disarm();
    waiting_ = false;
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    std::lock_guard guard(state_->lock);
    if (state_->version > *seen_) {
      *seen_ = state_->version;
      return {};
    }
    return error::channel_closed;
  }

 private:
  void unlink() noexcept override {
    std::lock_guard guard(state_->lock);
    state_->waiters.remove(*this);
  }

  watch_state<T>* state_;
  std::uint64_t* seen_;
  bool waiting_ = false;
};

}  // namespace detail

template <class T>
class watch_sender {
 public:
  watch_sender(watch_sender&&) noexcept = default;
  watch_sender& operator=(watch_sender&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~watch_sender() { reset(); }

  // Any thread. Replaces the value and wakes every changed(); channel_closed (value stored
  // anyway) when no receiver exists.
  result<void> send(T value) {
    (void)replace(std::move(value));  // the old value dies here, outside the lock
    return live_receivers() ? result<void>{} : result<void>(error::channel_closed);
  }
  // Replaces the value and returns the previous one.
  T replace(T value) {
    std::lock_guard guard(state_->lock);
    std::swap(state_->value, value);
    ++state_->version;
    state_->wake_all();
    return value;
  }
  // Changes the value in place (under the channel's mutex: keep `f` short, no awaiting).
  template <class F>
  void modify(F&& f) {
    std::lock_guard guard(state_->lock);
    std::forward<F>(f)(state_->value);
    ++state_->version;
    state_->wake_all();
  }

  T borrow() const {
    std::lock_guard guard(state_->lock);
    return state_->value;
  }
  std::size_t live_receivers() const {
    std::lock_guard guard(state_->lock);
    return state_->receivers;
  }
  watch_receiver<T> subscribe() const { return watch_receiver<T>(state_); }

  // Drops the sender: receivers see channel_closed after the last unseen version.
  void reset() noexcept {
    if (!state_) return;
    const auto state = std::move(state_);
    std::lock_guard guard(state->lock);
    state->sender_gone = true;
    state->wake_all();
  }

 private:
  template <class U, class V>
  friend std::pair<watch_sender<U>, watch_receiver<U>> make_watch(V&&);
  explicit watch_sender(std::shared_ptr<detail::watch_state<T>> s) noexcept
      : state_(std::move(s)) {}
  std::shared_ptr<detail::watch_state<T>> state_;
};

template <class T>
class watch_receiver {
 public:
  watch_receiver(const watch_receiver& other) : state_(other.state_), seen_(other.seen_) {
    std::lock_guard guard(state_->lock);
    ++state_->receivers;
  }
  watch_receiver(watch_receiver&& other) noexcept
      : state_(std::move(other.state_)), seen_(other.seen_) {}
  watch_receiver& operator=(watch_receiver other) noexcept {
    std::swap(state_, other.state_);
    std::swap(seen_, other.seen_);
    return *this;
  }
  ~watch_receiver() { reset(); }

  // result<void>: a newer version exists (now marked seen); channel_closed (the sender is gone
  // and nothing newer is left); or operation_canceled.
  detail::watch_changed<T> changed() noexcept { return detail::watch_changed<T>(*state_, seen_); }

  // The latest value, without marking it seen.
  T borrow() const {
    std::lock_guard guard(state_->lock);
    return state_->value;
  }
  // The latest value, marked seen.
  T borrow_and_update() {
    std::lock_guard guard(state_->lock);
    seen_ = state_->version;
    return state_->value;
  }
  bool has_changed() const {
    std::lock_guard guard(state_->lock);
    return state_->version > seen_;
  }

  void reset() noexcept {
    if (!state_) return;
    const auto state = std::move(state_);
    std::lock_guard guard(state->lock);
    --state->receivers;
  }

 private:
  friend class watch_sender<T>;
  template <class U, class V>
  friend std::pair<watch_sender<U>, watch_receiver<U>> make_watch(V&&);
  explicit watch_receiver(std::shared_ptr<detail::watch_state<T>> s) : state_(std::move(s)) {
    std::lock_guard guard(state_->lock);
    ++state_->receivers;
    seen_ = state_->version;
  }
  std::shared_ptr<detail::watch_state<T>> state_;
  std::uint64_t seen_ = 0;
};

template <class T, class V>
std::pair<watch_sender<T>, watch_receiver<T>> make_watch(V&& initial) {
  auto state = std::make_shared<detail::watch_state<T>>(std::forward<V>(initial));
  watch_receiver<T> rx(state);
  return {watch_sender<T>(std::move(state)), std::move(rx)};
}

}  // namespace corio
