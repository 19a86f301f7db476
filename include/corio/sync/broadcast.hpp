// A broadcast channel: every receiver gets every value sent after it subscribed.
//
//   auto [tx, rx] = corio::make_broadcast<event>(16);   // keeps the 16 newest values
//   auto rx2 = tx.subscribe();                          // sees values sent from now on
//   (void)tx.send(e);                                   // result<size_t>: receivers reached
//   while (true) {
//     auto v = co_await rx.recv();
//     if (v) use(*v);
//     else if (v.error() == corio::sync_error::lagged) log(v.missed());  // then continues
//     else break;                                       // channel_closed: drained, no senders
//   }
//
// Contracts and sharp edges:
// - send() never waits: the channel keeps the `capacity` newest values in a ring (allocated
//   once), and a send overwrites the oldest. A receiver that falls behind by more than that is
//   told once, by a recv() that yields sync_error::lagged with missed() = how many values it
//   lost; its next recv() continues with the oldest value still retained (tokio's semantics).
// - send() copies nothing; each recv() copies the value out (T must be copyable), so the
//   receivers never share one object. A value stays in the ring until overwritten.
// - send() fails with channel_closed (the value is dropped) when no receiver exists.
// - Senders are copyable and used from any thread; the channel closes when the last one goes:
//   receivers first drain what they have not seen, then get channel_closed.
// - A receiver is move-only, used by one coroutine at a time on a corio thread. resubscribe()
//   makes another, starting at the newest position.
// - Cancellation: a pending recv() whose task is stopped resumes with operation_canceled and
//   consumes nothing (the receiver's position moves only when a value is handed out).
// - Allocation: make_broadcast allocates the state and the ring once; waiters live in their
//   frames; send and recv allocate nothing unless T's copy does.
// - Cost: a send copies the value straight into each receiver waiting for it (when T's copy
//   cannot throw), so a woken recv() returns without touching the channel's lock again.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/sync/event.hpp>
#include <corio/sync/sync_error.hpp>
#include <corio/sync/waiter_lock.hpp>

namespace corio {

// result<T> that also says, when the error is sync_error::lagged, how many values were lost.
template <class T>
class [[nodiscard]] broadcast_result : public result<T> {
 public:
  using result<T>::result;
  static broadcast_result lagged(std::uint64_t missed) {
    broadcast_result r(make_error_code(sync_error::lagged));
    r.missed_ = missed;
    return r;
  }
  // Values overwritten before this receiver read them; 0 unless error() is lagged.
  std::uint64_t missed() const noexcept { return missed_; }

 private:
  std::uint64_t missed_ = 0;
};

template <class T>
class broadcast_sender;
template <class T>
class broadcast_receiver;

namespace detail {

template <class T>
class broadcast_recv;

template <class T>
class broadcast_state {
 public:
  explicit broadcast_state(std::size_t capacity) : ring_(capacity ? capacity : 1) {}

  waiter_lock lock;

  // Under `lock`. The value at `next`, a lag report (moving `next` to the oldest retained), or
  // an error: channel_closed once drained and closed, resource_unavailable_try_again if none.
  broadcast_result<T> take(std::uint64_t& next) {
    if (next < tail_) {
      const std::uint64_t oldest = tail_ > ring_.size() ? tail_ - ring_.size() : 0;
      if (next < oldest) {
        const std::uint64_t missed = oldest - next;
        next = oldest;
        return broadcast_result<T>::lagged(missed);
      }
      broadcast_result<T> value(*ring_[next % ring_.size()]);
      ++next;
      return value;
    }
    if (senders_gone_) return error::channel_closed;
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  // Under `lock`: whether a recv at `next` would complete at once.
  bool ready(std::uint64_t next) const noexcept { return next < tail_ || senders_gone_; }
  std::uint64_t tail() const noexcept { return tail_; }

  template <class U>
  result<std::size_t> send(U&& value) {
    std::lock_guard guard(lock);
    if (receivers_ == 0) return error::channel_closed;
    std::optional<T>& slot = ring_[tail_slot_];
    slot = std::forward<U>(value);
    ++tail_;
    if (++tail_slot_ == ring_.size()) tail_slot_ = 0;
    wake_all(&*slot);
    return receivers_;
  }

  // Under `lock`.
  void wait(broadcast_recv<T>& w) noexcept { waiters_.push_back(w); }
  void stop_waiting(broadcast_recv<T>& w) noexcept { waiters_.remove(w); }
  void add_receiver() noexcept { ++receivers_; }
  void drop_receiver() noexcept { --receivers_; }

  void add_sender() noexcept { senders_.fetch_add(1, std::memory_order_relaxed); }
  void drop_sender() noexcept {
    if (senders_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::lock_guard guard(lock);
    senders_gone_ = true;
    wake_all(nullptr);
  }

 private:
  // Wakes every waiter, handing `sent` (the value just written at tail_ - 1) to those waiting
  // for exactly that position, which every waiter is: it waits only when it has seen all.
  void wake_all(const T* sent) noexcept {
    if (waiters_.empty()) return;
    const executor* const here = current_executor();
    while (broadcast_recv<T>* w = waiters_.pop_front()) {
      bool handed = false;
      if constexpr (std::is_nothrow_copy_constructible_v<T>) {
        if (sent && *w->next_ + 1 == tail_) {
          w->handed_.emplace(*sent);
          ++*w->next_;
          handed = true;
        }
      }
      if (wake_waiter(*w, here)) continue;
      // Its cancel won (and waits for this lock to unlink it): it consumes nothing.
      if (handed) {
        w->handed_.reset();
        --*w->next_;
      }
    }
  }

  std::vector<std::optional<T>> ring_;
  std::uint64_t tail_ = 0;  // the position the next send writes
  // tail_ % ring_.size(), kept by the send: a 64-bit division costs tens of cycles.
  std::size_t tail_slot_ = 0;
  std::size_t receivers_ = 0;
  bool senders_gone_ = false;
  std::atomic<std::size_t> senders_{1};
  waiter_list<broadcast_recv<T>> waiters_;
};

// co_await rx.recv(): broadcast_result<T>.
template <class T>
class [[nodiscard]] broadcast_recv final : public operation, public waiter_hook {
 public:
  friend class broadcast_state<T>;
  broadcast_recv(broadcast_state<T>& state, std::uint64_t& next) noexcept
      : state_(&state), next_(&next) {}
  broadcast_recv(const broadcast_recv&) = delete;
  broadcast_recv& operator=(const broadcast_recv&) = delete;
  // Inlined, like await_resume: out of line, the call and the vtable pointer stores cost more
  // than the work. Armed only while waiting (await_resume disarms, ~operation again).
  [[gnu::always_inline]] ~broadcast_recv() {
    if (waiting_) {  // the frame died suspended here (its executor shut down)
      disarm();
      unlink();
    }
  }

  bool await_ready() const noexcept { return false; }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    std::lock_guard guard(state_->lock);
    if (state_->ready(*next_)) return false;
    if (!arm(h, stop_token_of(h))) return false;
    state_->wait(*this);
    waiting_ = true;
    return true;
  }

  [[gnu::always_inline]] broadcast_result<T> await_resume() {
    disarm();
    waiting_ = false;
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    if (handed_) return broadcast_result<T>(std::move(*handed_));  // its position moved already
    std::lock_guard guard(state_->lock);
    return state_->take(*next_);
  }

 private:
  void unlink() noexcept override {
    std::lock_guard guard(state_->lock);
    state_->stop_waiting(*this);
  }

  broadcast_state<T>* state_;
  std::uint64_t* next_;  // the receiver's position; the sender that hands a value moves it
  std::optional<T> handed_;  // the value a send copied in while this waited
  bool waiting_ = false;
};

}  // namespace detail

template <class T>
class broadcast_sender {
 public:
  broadcast_sender(const broadcast_sender& other) noexcept : state_(other.state_) {
    if (state_) state_->add_sender();
  }
  broadcast_sender(broadcast_sender&&) noexcept = default;
  broadcast_sender& operator=(const broadcast_sender& other) noexcept {
    broadcast_sender copy(other);
    std::swap(state_, copy.state_);
    return *this;
  }
  broadcast_sender& operator=(broadcast_sender&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~broadcast_sender() { reset(); }

  // Any thread, never waits. The number of receivers that will see it, or channel_closed when
  // there are none (the value is dropped).
  result<std::size_t> send(T value) { return state_->send(std::move(value)); }

  // A receiver that sees the values sent from now on.
  broadcast_receiver<T> subscribe() { return broadcast_receiver<T>(state_); }

  // Drops this sender now; the channel closes when the last one goes.
  void reset() noexcept {
    if (state_) std::exchange(state_, nullptr)->drop_sender();
  }

 private:
  template <class U>
  friend std::pair<broadcast_sender<U>, broadcast_receiver<U>> make_broadcast(std::size_t);
  explicit broadcast_sender(std::shared_ptr<detail::broadcast_state<T>> s) noexcept
      : state_(std::move(s)) {}
  std::shared_ptr<detail::broadcast_state<T>> state_;
};

template <class T>
class broadcast_receiver {
 public:
  broadcast_receiver(broadcast_receiver&& other) noexcept
      : state_(std::move(other.state_)), next_(other.next_) {}
  broadcast_receiver& operator=(broadcast_receiver&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
      next_ = other.next_;
    }
    return *this;
  }
  ~broadcast_receiver() { reset(); }

  // broadcast_result<T>: the next value; sync_error::lagged (see missed()); channel_closed
  // once every sender is gone and this receiver saw everything; or operation_canceled.
  detail::broadcast_recv<T> recv() noexcept { return detail::broadcast_recv<T>(*state_, next_); }

  // Never waits: like recv(), or resource_unavailable_try_again when nothing new was sent.
  broadcast_result<T> try_recv() {
    std::lock_guard guard(state_->lock);
    return state_->take(next_);
  }

  // Another receiver of the same channel, starting at the newest position (not this one's).
  broadcast_receiver resubscribe() const { return broadcast_receiver(state_); }

  void reset() noexcept {
    if (!state_) return;
    const auto state = std::move(state_);
    std::lock_guard guard(state->lock);
    state->drop_receiver();
  }

 private:
  friend class broadcast_sender<T>;
  template <class U>
  friend std::pair<broadcast_sender<U>, broadcast_receiver<U>> make_broadcast(std::size_t);
  explicit broadcast_receiver(std::shared_ptr<detail::broadcast_state<T>> s) : state_(std::move(s)) {
    std::lock_guard guard(state_->lock);
    state_->add_receiver();
    next_ = state_->tail();
  }
  std::shared_ptr<detail::broadcast_state<T>> state_;
  std::uint64_t next_ = 0;
};

// A broadcast channel retaining the `capacity` newest values (at least 1).
template <class T>
std::pair<broadcast_sender<T>, broadcast_receiver<T>> make_broadcast(std::size_t capacity) {
  auto state = std::make_shared<detail::broadcast_state<T>>(capacity);
  broadcast_receiver<T> rx(state);
  return {broadcast_sender<T>(std::move(state)), std::move(rx)};
}

}  // namespace corio
