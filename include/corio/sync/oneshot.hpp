// A one-value channel: one send, from any thread; one receiving coroutine.
//
//   auto [tx, rx] = corio::make_oneshot<int>();
//   std::thread([tx = std::move(tx)]() mutable { (void)tx.send(42); }).detach();
//   result<int> v = co_await rx;                      // or co_await rx.recv()
//
// Contracts and sharp edges:
// - send() never waits. It uses the sender up: a second send, like a send after the receiver
//   went away, fails with channel_closed (and the value is dropped).
// - The receiver yields the value once; after that, and when the sender was dropped unsent, it
//   yields channel_closed.
// - A pending receive whose task's stop token fires resumes with operation_canceled; a value
//   that arrives meanwhile stays for the next receive.
// - make_oneshot allocates the shared state once; the waiter lives in the awaiting frame.
#pragma once

#include <coroutine>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/sync/event.hpp>

namespace corio {

template <class T>
class oneshot_sender;
template <class T>
class oneshot_receiver;

namespace detail {

template <class T>
struct oneshot_state {
  std::mutex lock;
  std::optional<T> value;
  operation* receiver = nullptr;  // the receive waiting, if any
  bool sender_gone = false;       // sent, or dropped unsent
  bool receiver_gone = false;

  // Under `lock`.
  void close_sender() noexcept {
    sender_gone = true;
    // A receive that lost to its cancel leaves the value here for the next one.
    if (receiver) (void)wake_waiter(*std::exchange(receiver, nullptr));
  }

  // Under `lock`.
  result<T> take() {
    if (value) {
      result<T> r(std::move(*value));
      value.reset();
      return r;
    }
    if (sender_gone) return error::channel_closed;
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
};

template <class T>
class [[nodiscard]] oneshot_awaiter final : public operation {
 public:
  explicit oneshot_awaiter(oneshot_state<T>& state) noexcept : state_(&state) {}
  oneshot_awaiter(const oneshot_awaiter&) = delete;
  oneshot_awaiter& operator=(const oneshot_awaiter&) = delete;
  ~oneshot_awaiter() {
    disarm();
    if (waiting_) unlink();  // the frame died suspended here (its executor shut down)
  }

  bool await_ready() const noexcept { return false; }  // await_suspend decides, under the lock

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    std::lock_guard guard(state_->lock);
    if (state_->value || state_->sender_gone) return false;
    if (!arm(h, stop_token_of(h))) return false;
    state_->receiver = this;
    waiting_ = true;
    return true;
  }

  result<T> await_resume() {
    disarm();
    waiting_ = false;
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    std::lock_guard guard(state_->lock);
    return state_->take();
  }

 private:
  void unlink() noexcept override {
    std::lock_guard guard(state_->lock);
    if (state_->receiver == this) state_->receiver = nullptr;
  }

  oneshot_state<T>* state_;
  bool waiting_ = false;
};

}  // namespace detail

template <class T>
class oneshot_sender {
 public:
  oneshot_sender(oneshot_sender&&) noexcept = default;
  oneshot_sender& operator=(oneshot_sender&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~oneshot_sender() { reset(); }

  // Any thread. channel_closed when the receiver is gone or this sender was used up.
  result<void> send(T value) {
    if (!state_) return error::channel_closed;
    const auto state = std::move(state_);
    std::lock_guard guard(state->lock);
    if (state->receiver_gone) return error::channel_closed;
    state->value.emplace(std::move(value));
    state->close_sender();
    return {};
  }

  // Drops the sender unsent: the receiver gets channel_closed.
  void reset() noexcept {
    if (!state_) return;
    const auto state = std::move(state_);
    std::lock_guard guard(state->lock);
    state->close_sender();
  }

 private:
  template <class U>
  friend std::pair<oneshot_sender<U>, oneshot_receiver<U>> make_oneshot();
  explicit oneshot_sender(std::shared_ptr<detail::oneshot_state<T>> s) noexcept
      : state_(std::move(s)) {}
  std::shared_ptr<detail::oneshot_state<T>> state_;
};

template <class T>
class oneshot_receiver {
 public:
  oneshot_receiver(oneshot_receiver&&) noexcept = default;
  oneshot_receiver& operator=(oneshot_receiver&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~oneshot_receiver() { reset(); }

  // result<T>: the value, channel_closed, or operation_canceled.
  detail::oneshot_awaiter<T> recv() noexcept { return detail::oneshot_awaiter<T>(*state_); }
  detail::oneshot_awaiter<T> operator co_await() noexcept { return recv(); }

  // Never waits: resource_unavailable_try_again while nothing was sent yet.
  result<T> try_recv() {
    std::lock_guard guard(state_->lock);
    return state_->take();
  }

  // Drops the receiver: a later send fails with channel_closed.
  void reset() noexcept {
    if (!state_) return;
    const auto state = std::move(state_);
    std::optional<T> doomed;  // dies outside the lock
    std::lock_guard guard(state->lock);
    state->receiver_gone = true;
    if (state->value) {
      doomed.emplace(std::move(*state->value));
      state->value.reset();
    }
  }

 private:
  template <class U>
  friend std::pair<oneshot_sender<U>, oneshot_receiver<U>> make_oneshot();
  explicit oneshot_receiver(std::shared_ptr<detail::oneshot_state<T>> s) noexcept
      : state_(std::move(s)) {}
  std::shared_ptr<detail::oneshot_state<T>> state_;
};

template <class T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> make_oneshot() {
  auto state = std::make_shared<detail::oneshot_state<T>>();
  return {oneshot_sender<T>(state), oneshot_receiver<T>(state)};
}

}  // namespace corio
