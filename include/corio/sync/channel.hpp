// A multi-producer, multi-consumer channel for coroutines, safe across threads.
//
//   auto [tx, rx] = corio::make_channel<job>(64);     // bounded: send waits while 64 are queued
//   auto [tx, rx] = corio::make_unbounded_channel<job>();
//   co_await tx.send(j);                              // result<void>
//   while (auto j = co_await rx.recv()) handle(*j);   // ends with channel_closed
//   auto rx2 = rx;                                    // a second consumer of the same queue
//
// Contracts and sharp edges:
// - Senders (channel_sender) are copyable and usable from any thread, corio or not; the channel
//   counts the live ones. Receivers (channel_receiver) are copyable too: every copy takes from
//   the same queue (workers sharing a job queue), each message goes to exactly one of them, and
//   receives wait in FIFO order. Receive only on corio threads; any number of recv()s may be
//   pending at once, on any threads.
// - Order: messages from one sender arrive in the order it sent them. There is no order across
//   senders beyond what the program itself establishes.
// - recv() yields channel_closed once every sender is gone and the queue is empty: messages sent
//   before the last sender went away are still delivered.
// - Once every receiver is gone, sends fail with channel_closed and queued messages are
//   destroyed.
// - A message whose send fails is lost: co_await send(v) owns v (it must, across suspension)
//   and destroys it with the awaiter. try_send() moves from its argument only on success, so
//   the caller keeps the message when the queue is full or closed.
// - Backpressure: on a bounded channel co_await send() suspends while the queue is full and
//   senders enter in the order they started waiting. blocking_send() blocks the OS thread
//   instead: for threads that are not corio threads; on a corio thread it would stall every
//   task of that thread (and deadlock if the receiver lives there).
// - Cancellation: a pending recv() or send() whose task's stop token fires resumes with
//   operation_canceled. A message is never handed to a recv whose cancel won (it stays queued
//   for the next recv), and a canceled send never enqueues its message.
// - A recv or send that can complete at once does so, even for a stopped task, without
//   yielding: a tight loop over a busy channel does not let other tasks of its thread run.
// - Capacity 0 is taken as 1 (there is no rendezvous mode).
// - Allocation: make_* allocates the shared state once. The queue is a ring that grows
//   geometrically (up to the capacity) and keeps its size; waiters are nodes inside their
//   frames; so steady state allocates nothing. A lock guards the state (waiter_lock.hpp: one
//   atomic exchange when free); waking a waiter (a post to its executor) happens inside it,
//   see sync/event.hpp for why.
#pragma once

#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/sync/event.hpp>
#include <corio/sync/waiter_lock.hpp>

namespace corio {

template <class T>
class channel_sender;
template <class T>
class channel_receiver;

namespace detail {

// A FIFO ring that doubles when full and never shrinks. Its capacity is always a power of two
// (8, 16, ...), so a slot's index is a mask, not a division: a 64-bit `%` costs tens of cycles,
// twice per message, as much as the rest of an uncontended send and recv.
template <class T>
class message_ring {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  template <class U>
  void push_back(U&& value) {
    if (size_ == capacity_) grow();
    slots_[(head_ + size_) & (capacity_ - 1)].emplace(std::forward<U>(value));
    ++size_;
  }

  T pop_front() {
    std::optional<T>& slot = slots_[head_];
    T value = std::move(*slot);
    slot.reset();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return value;
  }

  T pop_back() {
    std::optional<T>& slot = slots_[(head_ + size_ - 1) & (capacity_ - 1)];
    T value = std::move(*slot);
    slot.reset();
    --size_;
    return value;
  }

 private:
  [[gnu::noinline]] void grow() {
    const std::size_t bigger = capacity_ == 0 ? 8 : capacity_ * 2;
    auto slots = std::make_unique<std::optional<T>[]>(bigger);
    for (std::size_t i = 0; i < size_; ++i) {
      slots[i].emplace(std::move(*slots_[(head_ + i) & (capacity_ - 1)]));
    }
    slots_ = std::move(slots);
    capacity_ = bigger;
    head_ = 0;
  }

  std::unique_ptr<std::optional<T>[]> slots_;
  std::size_t capacity_ = 0;  // 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// A sender waiting for room: a suspended coroutine or a blocked thread. Its message stays in
// it until the receiver makes room and moves it into the queue.
template <class T>
struct room_waiter : waiter_hook {
  std::optional<T>* message = nullptr;
  // The receiver went away: it fails with channel_closed. (A flag, not a std::error_code:
  // constructing one calls system_category() out of line, in every send.)
  bool closed = false;
  // Under the channel's mutex, taken out of the list: false when its cancel won.
  virtual bool wake() noexcept = 0;

 protected:
  ~room_waiter() = default;
};

template <class T>
class channel_recv;

// A recv waiting on an empty queue; the sender that completes it writes its slot first.
template <class T>
struct message_waiter : waiter_hook {
  std::optional<T> slot;
};

template <class T>
class channel_state {
 public:
  explicit channel_state(std::size_t capacity) noexcept : capacity_(capacity ? capacity : 1) {}

  waiter_lock lock;

  bool receiver_gone() const noexcept { return receiver_gone_; }
  bool senders_gone() const noexcept { return senders_gone_; }

  // Under `lock`. Hands the message to a waiting receiver or queues it; false when full.
  // Moves from `message` only when it returns true.
  template <class U>
  bool offer(U&& message) {
    if (!receivers_.empty()) [[unlikely]] return hand_over(std::forward<U>(message));
    if (queue_.size() >= capacity_) return false;
    queue_.push_back(std::forward<U>(message));
    return true;
  }

  // Under `lock`. The oldest message, letting the first waiting sender into the room it frees.
  bool take(std::optional<T>& out) {
    if (queue_.empty()) return false;
    out.emplace(queue_.pop_front());
    if (!senders_.empty()) [[unlikely]] let_sender_in();
    return true;
  }

  // Under `lock`.
  void wait_for_room(room_waiter<T>& w) noexcept { senders_.push_back(w); }
  void stop_waiting_for_room(room_waiter<T>& w) noexcept { senders_.remove(w); }
  void wait_for_message(channel_recv<T>& r) noexcept { receivers_.push_back(r); }
  void stop_waiting_for_message(channel_recv<T>& r) noexcept { receivers_.remove(r); }

  void add_sender() noexcept { live_senders_.fetch_add(1, std::memory_order_relaxed); }
  void add_receiver() noexcept { live_receivers_.fetch_add(1, std::memory_order_relaxed); }

  void drop_sender() noexcept {
    if (live_senders_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::lock_guard guard(lock);
    senders_gone_ = true;
    // Waiting receivers mean an empty queue: they wake to channel_closed (an empty slot).
    while (channel_recv<T>* r = receivers_.pop_front()) (void)wake_waiter(*r);
  }

  void drop_receiver() noexcept {
    if (live_receivers_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    message_ring<T> doomed;  // the messages die outside the lock
    std::lock_guard guard(lock);
    receiver_gone_ = true;
    while (room_waiter<T>* w = senders_.pop_front()) {
      w->closed = true;
      (void)w->wake();
    }
    std::swap(doomed, queue_);
  }

 private:
  // offer()'s slow half, out of line so that the usual send (queue it) stays small enough to
  // inline: receivers wait, so the queue is empty and the message goes straight to one.
  template <class U>
  [[gnu::noinline]] bool hand_over(U&& message) {
    std::optional<T> held(std::forward<U>(message));
    while (channel_recv<T>* r = receivers_.pop_front()) {
      r->slot.emplace(std::move(*held));
      if (wake_waiter(*r)) return true;
      // Its cancel won: the message goes to the next waiting recv, or to the queue (which is
      // empty, as receivers only wait on an empty queue).
      held.emplace(std::move(*r->slot));
      r->slot.reset();
    }
    queue_.push_back(std::move(*held));
    return true;
  }

  // take()'s slow half: the queue was full with senders waiting; the first moves into the room.
  [[gnu::noinline]] void let_sender_in() {
    while (room_waiter<T>* w = senders_.pop_front()) {
      queue_.push_back(std::move(**w->message));
      if (w->wake()) break;
      w->message->emplace(queue_.pop_back());  // its cancel won: it keeps its message
    }
  }

  message_ring<T> queue_;
  std::size_t capacity_;
  waiter_list<room_waiter<T>> senders_;  // non-empty only while the queue is full
  waiter_list<channel_recv<T>> receivers_;  // non-empty only while the queue is empty
  std::atomic<std::size_t> live_senders_{1};
  std::atomic<std::size_t> live_receivers_{1};
  bool senders_gone_ = false;
  bool receiver_gone_ = false;
};

// co_await rx.recv(): result<T>.
template <class T>
class [[nodiscard]] channel_recv final : public operation, public message_waiter<T> {
 public:
  explicit channel_recv(channel_state<T>& state) noexcept : state_(&state) {}
  channel_recv(const channel_recv&) = delete;
  channel_recv& operator=(const channel_recv&) = delete;
  [[gnu::always_inline]] ~channel_recv() {
    // Armed only while waiting (await_resume disarms): a recv that completed at once skips it.
    if (waiting_) {  // the frame died suspended here (its executor shut down)
      disarm();
      unlink();
    }
  }

  // A message queued (or the channel closed): taken now, without the suspension's bookkeeping.
  // Inlined, like the destructor and await_resume: out of line, the calls and the vtable
  // pointer stores cost as much as the work (a same-task send + recv is ~25 ns).
  [[gnu::always_inline]] bool await_ready() {
    std::lock_guard guard(state_->lock);
    return state_->take(this->slot) || state_->senders_gone();
  }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    std::lock_guard guard(state_->lock);
    // Looked at again: a sender on another thread may have come since await_ready.
    if (state_->take(this->slot) || state_->senders_gone()) return false;
    // Armed before it is linked: a sender on another thread finds it ready to be completed.
    if (!arm(h, stop_token_of(h))) return false;
    state_->wait_for_message(*this);
    waiting_ = true;
    return true;
  }

  [[gnu::always_inline]] result<T> await_resume() {
    disarm();
    waiting_ = false;
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    if (!this->slot) return error::channel_closed;
    return std::move(*this->slot);
  }

 private:
  void unlink() noexcept override {
    std::lock_guard guard(state_->lock);
    state_->stop_waiting_for_message(*this);
  }

  channel_state<T>* state_;
  bool waiting_ = false;
};

// co_await tx.send(v): result<void>.
template <class T>
class [[nodiscard]] channel_send final : public operation, public room_waiter<T> {
 public:
  channel_send(channel_state<T>& state, T m) : state_(&state), message_(std::move(m)) {
    this->message = &message_;
  }
  channel_send(const channel_send&) = delete;
  channel_send& operator=(const channel_send&) = delete;
  [[gnu::always_inline]] ~channel_send() {
    if (waiting_) {  // as ~channel_recv
      disarm();
      unlink();
    }
  }

  // Room (or a waiting receiver), or the channel closed: done now, without the suspension's
  // bookkeeping. Inlined, as channel_recv's.
  [[gnu::always_inline]] bool await_ready() {
    std::lock_guard guard(state_->lock);
    return try_now();
  }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) {
    std::lock_guard guard(state_->lock);
    if (try_now()) return false;  // a receiver on another thread made room since await_ready
    if (!arm(h, stop_token_of(h))) return false;
    state_->wait_for_room(*this);
    waiting_ = true;
    return true;
  }

  [[gnu::always_inline]] result<void> await_resume() noexcept {
    disarm();
    waiting_ = false;
    if (canceled()) return std::make_error_code(std::errc::operation_canceled);
    if (this->closed) return error::channel_closed;
    return {};
  }

 private:
  // Under the lock: true when the send is over (queued, handed over, or closed).
  [[gnu::always_inline]] bool try_now() {
    if (state_->receiver_gone()) {
      this->closed = true;
      return true;
    }
    return state_->offer(std::move(*message_));
  }
  bool wake() noexcept override { return wake_waiter(*this); }
  void unlink() noexcept override {
    std::lock_guard guard(state_->lock);
    state_->stop_waiting_for_room(*this);
  }

  channel_state<T>* state_;
  std::optional<T> message_;
  bool waiting_ = false;
};

// A thread (not a corio one) blocked in blocking_send.
template <class T>
struct blocked_room_waiter final : room_waiter<T> {
  std::atomic<bool> woken{false};
  bool wake() noexcept override {
    woken.store(true, std::memory_order_release);
    // Under the channel's lock, which the thread takes again before it returns: `this` lives
    // until we are done.
    woken.notify_one();
    return true;
  }
};

}  // namespace detail

template <class T>
class channel_sender {
 public:
  channel_sender(const channel_sender& other) noexcept : state_(other.state_) {
    if (state_) state_->add_sender();
  }
  channel_sender(channel_sender&& other) noexcept = default;
  channel_sender& operator=(const channel_sender& other) noexcept {
    channel_sender copy(other);
    std::swap(state_, copy.state_);
    return *this;
  }
  channel_sender& operator=(channel_sender&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~channel_sender() { reset(); }

  // result<void>: empty, channel_closed or operation_canceled. Suspends while a bounded channel
  // is full; the message is lost when it fails.
  detail::channel_send<T> send(T message) {
    return detail::channel_send<T>(*state_, std::move(message));
  }

  // Never waits: resource_unavailable_try_again when full, channel_closed when the receiver is
  // gone. The argument is moved from only on success.
  result<void> try_send(T&& message) { return try_offer(std::move(message)); }
  result<void> try_send(const T& message) { return try_offer(message); }

  // For threads that are not corio threads: blocks the thread while the channel is full.
  result<void> blocking_send(T message) {
    std::unique_lock guard(state_->lock);
    if (state_->receiver_gone()) return error::channel_closed;
    if (state_->offer(std::move(message))) return {};
    assert(!detail::current_executor() && "blocking_send would stall a corio thread");
    std::optional<T> waiting(std::move(message));
    detail::blocked_room_waiter<T> self;
    self.message = &waiting;
    state_->wait_for_room(self);
    guard.unlock();
    self.woken.wait(false, std::memory_order_acquire);
    guard.lock();  // the waker notifies under the lock: once we hold it, it is done with `self`
    if (self.closed) return error::channel_closed;
    return {};
  }

  // Drops this sender now; the channel closes when the last one goes.
  void reset() noexcept {
    if (state_) std::exchange(state_, nullptr)->drop_sender();
  }

 private:
  template <class U>
  friend std::pair<channel_sender<U>, channel_receiver<U>> make_channel(std::size_t capacity);
  template <class U>
  friend std::pair<channel_sender<U>, channel_receiver<U>> make_unbounded_channel();

  explicit channel_sender(std::shared_ptr<detail::channel_state<T>> state) noexcept
      : state_(std::move(state)) {}

  template <class U>
  result<void> try_offer(U&& message) {
    std::lock_guard guard(state_->lock);
    if (state_->receiver_gone()) return error::channel_closed;
    if (state_->offer(std::forward<U>(message))) return {};
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }

  std::shared_ptr<detail::channel_state<T>> state_;
};

template <class T>
class channel_receiver {
 public:
  // Another consumer of the same queue.
  channel_receiver(const channel_receiver& other) noexcept : state_(other.state_) {
    if (state_) state_->add_receiver();
  }
  channel_receiver& operator=(const channel_receiver& other) noexcept {
    channel_receiver copy(other);
    std::swap(state_, copy.state_);
    return *this;
  }
  channel_receiver(channel_receiver&& other) noexcept = default;
  channel_receiver& operator=(channel_receiver&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~channel_receiver() { reset(); }

  // result<T>: the next message, channel_closed (every sender gone, queue drained) or
  // operation_canceled.
  detail::channel_recv<T> recv() noexcept { return detail::channel_recv<T>(*state_); }

  // Never waits: resource_unavailable_try_again when empty, channel_closed when drained.
  result<T> try_recv() {
    std::optional<T> message;
    {
      std::lock_guard guard(state_->lock);
      if (!state_->take(message)) {
        if (state_->senders_gone()) return error::channel_closed;
        return std::make_error_code(std::errc::resource_unavailable_try_again);
      }
    }
    return std::move(*message);
  }

  // Drops this receiver; the last one closes the channel from this side: senders get
  // channel_closed, queued messages die.
  void reset() noexcept {
    if (state_) std::exchange(state_, nullptr)->drop_receiver();
  }

 private:
  template <class U>
  friend std::pair<channel_sender<U>, channel_receiver<U>> make_channel(std::size_t capacity);
  template <class U>
  friend std::pair<channel_sender<U>, channel_receiver<U>> make_unbounded_channel();

  explicit channel_receiver(std::shared_ptr<detail::channel_state<T>> state) noexcept
      : state_(std::move(state)) {}

  std::shared_ptr<detail::channel_state<T>> state_;
};

// A channel that holds at most `capacity` messages (at least 1).
template <class T>
std::pair<channel_sender<T>, channel_receiver<T>> make_channel(std::size_t capacity) {
  auto state = std::make_shared<detail::channel_state<T>>(capacity);
  return {channel_sender<T>(state), channel_receiver<T>(state)};
}

// A channel whose senders never wait: the queue grows as needed.
template <class T>
std::pair<channel_sender<T>, channel_receiver<T>> make_unbounded_channel() {
  return make_channel<T>(std::numeric_limits<std::size_t>::max());
}

}  // namespace corio
