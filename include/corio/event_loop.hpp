// The callback event loop: the classic style (mio's early EventLoop, libuv), on the same reactor
// the coroutine executor uses.
//
//   struct handler {
//     void readable(corio::event_loop<int>& loop, corio::token t);   // each one optional
//     void writable(corio::event_loop<int>& loop, corio::token t);
//     void timeout(corio::event_loop<int>& loop, corio::token t);
//     void notify(corio::event_loop<int>& loop, int message);
//     void signal(corio::event_loop<int>& loop, corio::signal_info info);
//   };
//   auto loop = corio::event_loop<int>::create().value();
//   loop.sender().send(42);       // from any thread, before or during run()
//   loop.run(my_handler);         // until loop.shutdown()
//
// Contracts:
// - Readiness is edge-triggered (see reactor.hpp): on readable, read until would_block.
// - An error or hang-up reaches readable() and/or writable(), whichever the registration asked
//   for; the next read or write reports it. It is handed out once more in the next turn (as
//   readable), so a handler may stop reading at a short read -- the kernel's queue ran dry, and
//   new data raises a new edge -- and still learn of a FIN that came with the last bytes.
// - After remove(fd) or clear_timeout(h), no callback for it runs, even one already collected
//   in the same turn.
// - Messages arrive in the order each sender sent them; messages sent before run() are
//   delivered once it starts. A sender whose loop is gone gets loop_stopped.
// - shutdown() lets the current turn finish, then run() returns.
// - A zero timeout runs in the next turn (the wait does not block), not at the next 1 ms tick;
//   re-armed from its own callback it runs once per turn. While such work is queued, turns
//   skip asking the kernel for readiness until loop_options::callbacks_per_io_poll callbacks
//   have run (61 by default, as tokio): I/O and signals are never starved, and a handler that
//   re-queues itself makes no system call per turn. Due timers run in every turn.
// - A handler member named readable, writable, timeout, notify or signal that the loop cannot
//   call with the arguments above is a compile error (see corio::event_handler), not a
//   callback that silently never runs.
// - Steady state allocates nothing: the event buffer, timeout slab, fd table and message queues
//   keep their capacity.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <corio/detail/loop_core.hpp>
#include <corio/error.hpp>
#include <corio/reactor.hpp>
#include <corio/signal.hpp>

namespace corio {

template <class Message>
class event_loop;

namespace detail {

// Messages cross threads through here: a mutex-guarded queue that the loop swaps out whole, so a
// turn with messages takes the lock once and the queue's capacity is reused. `pending` mirrors
// !queue.empty() (written under the lock) so that a turn without messages takes no lock: a
// sender that fills the queue after the loop looked also wakes it.
template <class Message>
struct mailbox {
  explicit mailbox(corio::waker w) : wake(std::move(w)) {}

  std::mutex lock;
  std::vector<Message> queue;
  std::atomic<bool> pending{false};
  bool open = true;
  corio::waker wake;
};

template <class T>
concept has_native_handle = requires(const T& s) {
  { s.native_handle() } -> std::convertible_to<int>;
};

// Does H have a member of this name at all, whatever its kind or signature (overloads and
// templates included)? A class deriving from H and from a probe with a member of that name sees
// an ambiguous name exactly when H has one too. Final classes cannot be derived from: for them
// only a plain (non-overloaded, non-template) member is seen.
#define CORIO_DETAIL_NAME_PROBE(name)                                                   \
  struct probe_##name {                                                                 \
    void name();                                                                        \
  };                                                                                    \
  template <class H>                                                                    \
  struct mix_##name : H, probe_##name {};                                               \
  template <class H>                                                                    \
  constexpr bool names_##name() {                                                       \
    if constexpr (!std::is_class_v<H>) {                                                \
      return false;                                                                     \
    } else if constexpr (std::is_final_v<H>) {                                          \
      return requires { &H::name; };                                                    \
    } else {                                                                            \
      return !requires { &mix_##name<H>::name; };                                       \
    }                                                                                   \
  }
CORIO_DETAIL_NAME_PROBE(readable)
CORIO_DETAIL_NAME_PROBE(writable)
CORIO_DETAIL_NAME_PROBE(timeout)
CORIO_DETAIL_NAME_PROBE(notify)
CORIO_DETAIL_NAME_PROBE(signal)
#undef CORIO_DETAIL_NAME_PROBE

// Each callback: absent, or callable exactly as the loop calls it.
template <class H, class Loop>
concept readable_ok = !names_readable<std::remove_cvref_t<H>>() ||
                      requires(H& h, Loop& l, token t) { h.readable(l, t); };
template <class H, class Loop>
concept writable_ok = !names_writable<std::remove_cvref_t<H>>() ||
                      requires(H& h, Loop& l, token t) { h.writable(l, t); };
template <class H, class Loop>
concept timeout_ok = !names_timeout<std::remove_cvref_t<H>>() ||
                     requires(H& h, Loop& l, token t) { h.timeout(l, t); };
template <class H, class Loop, class Message>
concept notify_ok = !names_notify<std::remove_cvref_t<H>>() ||
                    requires(H& h, Loop& l, Message&& m) { h.notify(l, std::move(m)); };
template <class H, class Loop>
concept signal_ok = !names_signal<std::remove_cvref_t<H>>() ||
                    requires(H& h, Loop& l, signal_info i) { h.signal(l, i); };

}  // namespace detail

// A handler for event_loop<Message>: every callback it names is one the loop can call. Each is
// optional; one that is present with a signature the loop cannot call would never run, so
// run() refuses such a handler at compile time.
template <class H, class Message>
concept event_handler = detail::readable_ok<H, event_loop<Message>> &&
                        detail::writable_ok<H, event_loop<Message>> &&
                        detail::timeout_ok<H, event_loop<Message>> &&
                        detail::notify_ok<H, event_loop<Message>, Message> &&
                        detail::signal_ok<H, event_loop<Message>>;

// A copyable, thread-safe handle that posts messages to one loop.
template <class Message>
class sender {
 public:
  result<void> send(Message message) const {
    bool was_empty = false;
    {
      std::lock_guard guard(box_->lock);
      if (!box_->open) return corio::error::loop_stopped;
      was_empty = box_->queue.empty();
      box_->queue.push_back(std::move(message));
      box_->pending.store(true, std::memory_order_release);
    }
    // A non-empty queue already has a wake on its way, or the loop will see the queue before it
    // sleeps; only the first message of a batch needs to wake it.
    if (was_empty) return box_->wake.wake();
    return {};
  }

 private:
  friend class event_loop<Message>;
  explicit sender(std::shared_ptr<detail::mailbox<Message>> box) noexcept : box_(std::move(box)) {}
  std::shared_ptr<detail::mailbox<Message>> box_;
};

template <class Message>
class event_loop {
 public:
  static result<event_loop> create(const loop_options& options = {}) {
    auto core = detail::loop_core::create(options);
    if (!core) return core.error();
    auto box = std::make_shared<detail::mailbox<Message>>((*core)->waker());
    return event_loop(std::move(*core), std::move(box));
  }

  event_loop(event_loop&&) noexcept = default;
  event_loop& operator=(event_loop&&) noexcept = default;
  ~event_loop() {
    if (!box_) return;
    std::lock_guard guard(box_->lock);
    box_->open = false;
  }

  corio::sender<Message> sender() const { return corio::sender<Message>(box_); }
  backend_kind backend() const noexcept { return core_->backend(); }

  // Registrations take an fd or anything with native_handle() (corio::net sockets).
  result<void> add(int fd, token t, interest i) { return core_->add(fd, t, i); }
  result<void> modify(int fd, token t, interest i) { return core_->modify(fd, t, i); }
  result<void> remove(int fd) { return core_->remove(fd); }
  template <detail::has_native_handle S>
  result<void> add(const S& s, token t, interest i) { return add(s.native_handle(), t, i); }
  template <detail::has_native_handle S>
  result<void> modify(const S& s, token t, interest i) { return modify(s.native_handle(), t, i); }
  template <detail::has_native_handle S>
  result<void> remove(const S& s) { return remove(s.native_handle()); }

  // Calls the handler's timeout(loop, t) once, no earlier than `after` from now.
  result<timeout_handle> timeout(token t, std::chrono::nanoseconds after) {
    return core_->arm_timeout(t, after);
  }
  // True if the timeout was pending and will now never fire.
  bool clear_timeout(timeout_handle h) noexcept { return core_->clear_timeout(h); }

  // Delivers the signal to the handler's signal(loop, info) instead of its default action.
  result<void> watch_signal(int signo) { return core_->watch_signal(signo); }
  result<void> unwatch_signal(int signo) { return core_->unwatch_signal(signo); }

  void shutdown() noexcept { running_ = false; }
  bool is_running() const noexcept { return running_; }

  template <class Handler>
  result<void> run(Handler& handler) {
    check_handler<Handler>();
    running_ = true;
    while (running_) {
      auto r = run_once(handler, std::nullopt);
      if (!r) {
        running_ = false;
        return r;
      }
    }
    return {};
  }

  // One turn: waits at most `max_wait` (nullopt: until something happens), then dispatches.
  template <class Handler>
  result<void> run_once(Handler& handler, std::optional<std::chrono::nanoseconds> max_wait) {
    check_handler<Handler>();
    if (has_messages()) max_wait = std::chrono::nanoseconds::zero();
    auto r = core_->turn(max_wait);
    if (!r) return r;
    dispatch_ready(handler);
    detail::loop_event e;
    while (core_->rest_pending() && core_->next(e)) dispatch(handler, e);
    deliver_messages(handler);
    return {};
  }

 private:
  // One message per callback, so the error names the member to fix.
  template <class H>
  static constexpr void check_handler() {
    static_assert(detail::readable_ok<H, event_loop>,
                  "corio::event_loop: the handler's `readable` cannot be called as "
                  "readable(corio::event_loop<Message>&, corio::token); the loop would never call it");
    static_assert(detail::writable_ok<H, event_loop>,
                  "corio::event_loop: the handler's `writable` cannot be called as "
                  "writable(corio::event_loop<Message>&, corio::token); the loop would never call it");
    static_assert(detail::timeout_ok<H, event_loop>,
                  "corio::event_loop: the handler's `timeout` cannot be called as "
                  "timeout(corio::event_loop<Message>&, corio::token); the loop would never call it");
    static_assert(detail::notify_ok<H, event_loop, Message>,
                  "corio::event_loop: the handler's `notify` cannot be called as "
                  "notify(corio::event_loop<Message>&, Message&&); the loop would never call it");
    static_assert(detail::signal_ok<H, event_loop>,
                  "corio::event_loop: the handler's `signal` cannot be called as "
                  "signal(corio::event_loop<Message>&, corio::signal_info); the loop would never "
                  "call it");
  }

  event_loop(std::unique_ptr<detail::loop_core> core,
             std::shared_ptr<detail::mailbox<Message>> box) noexcept
      : core_(std::move(core)), box_(std::move(box)) {}

  bool has_messages() const noexcept { return box_->pending.load(std::memory_order_acquire); }

  template <class Handler>
  void dispatch(Handler& h, const detail::loop_event& e) {
    using kind = detail::loop_event::kind;
    switch (e.what) {
      case kind::io: return dispatch_io(h, e);
      case kind::timeout:
        if constexpr (requires { h.timeout(*this, e.tok); }) h.timeout(*this, e.tok);
        return;
      case kind::signal:
        if constexpr (requires { h.signal(*this, e.signal); }) h.signal(*this, e.signal);
        return;
    }
  }

  static constexpr std::uint8_t read_side = event::readable | event::read_closed | event::error;
  static constexpr std::uint8_t write_side = event::writable | event::write_closed | event::error;

  // The turn's readiness, each event checked against the registrations as it is dispatched.
  template <class Handler>
  void dispatch_ready(Handler& h) {
    for (const event& ev : core_->io_batch()) {
      const auto key = static_cast<std::uint64_t>(ev.token());
      const detail::fd_slot* slot = core_->slot_of(key);
      if (!slot) [[unlikely]] {
        core_->unmatched_event(key);
        continue;
      }
      const std::uint8_t flags = ev.flags();
      if (flags & (event::read_closed | event::error)) [[unlikely]] core_->hangup_seen(key);
      if (slot->wanted.is_readable() && (flags & read_side)) {
        if constexpr (requires { h.readable(*this, slot->user); }) h.readable(*this, slot->user);
        if (!(flags & write_side)) continue;
        slot = core_->slot_of(key);  // readable() may have removed or modified it
        if (!slot) continue;
      }
      if (slot->wanted.is_writable() && (flags & write_side)) {
        if constexpr (requires { h.writable(*this, slot->user); }) h.writable(*this, slot->user);
      }
    }
  }

  // A hang-up reported again (see loop_core::turn), checked against its registration now.
  template <class Handler>
  void dispatch_io(Handler& h, const detail::loop_event& e) {
    auto wanted = core_->interest_of(e.key);
    if (wanted && wanted->is_readable() && (e.flags & read_side)) {
      if constexpr (requires { h.readable(*this, e.tok); }) h.readable(*this, e.tok);
      wanted = core_->interest_of(e.key);  // readable() may have removed it
    }
    if (wanted && wanted->is_writable() && (e.flags & write_side)) {
      if constexpr (requires { h.writable(*this, e.tok); }) h.writable(*this, e.tok);
    }
  }

  template <class Handler>
  void deliver_messages(Handler& h) {
    if (!has_messages()) return;
    {
      std::lock_guard guard(box_->lock);
      std::swap(box_->queue, batch_);
      box_->pending.store(false, std::memory_order_relaxed);
    }
    for (Message& m : batch_) {
      if constexpr (requires { h.notify(*this, std::move(m)); }) h.notify(*this, std::move(m));
    }
    batch_.clear();  // keeps its capacity: the next swap hands it back to senders
  }

  std::unique_ptr<detail::loop_core> core_;
  std::shared_ptr<detail::mailbox<Message>> box_;
  std::vector<Message> batch_;
  bool running_ = false;
};

}  // namespace corio
