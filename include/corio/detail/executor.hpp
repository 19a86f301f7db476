// The seam between awaitables (which live in coroutine frames, so their layout must be visible)
// and the per-thread executor (lib/executor). Users never name anything here.
//
// An operation is one suspended co_await. Completion and cancellation may race (a stop request
// comes from any thread; readiness, timers and channel senders complete), so each operation has
// one atomic state with two bits, and the rule is: the coroutine is resumed exactly once, by
// whoever sets the second bit's consequences in motion:
//   - a completer sets `done` (completers on other threads only if `cancel` is not yet set);
//   - a stop request sets `cancel` and, unless `done` was already set, posts the operation to
//     its executor, which on its own thread unlinks it (if not done), then resumes it.
// So the cancel path always runs on the owner thread, and a result that raced a cancel (bytes
// already read) is delivered, never dropped.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stop_token>
#include <system_error>
#include <utility>

#include <corio/detail/io_request.hpp>
#include <corio/detail/task_stop.hpp>
#include <corio/detail/task_trace.hpp>
#include <corio/detail/timer_node.hpp>
#include <corio/error.hpp>
#include <corio/reactor.hpp>

namespace corio::detail {

class executor;

// Work handed to an executor from any thread; intrusive, so posting never allocates.
struct remote_node {
  remote_node* next = nullptr;
  void (*run)(remote_node&) noexcept = nullptr;
};

// The stop of the coroutine suspending, when its promise carries one (corio::task does): a
// spawned task's stop state (task_stop.hpp), or a std::stop_token.
// A promise's own stop_ref comes back by reference: awaiters look at it once per co_await, and
// a copy would copy (and destroy) its std::stop_token too.
template <class Promise>
decltype(auto) stop_token_of(std::coroutine_handle<Promise> h) noexcept {
  if constexpr (requires {
                  { h.promise().stop_token() } -> std::same_as<const stop_ref&>;
                }) {
    return h.promise().stop_token();
  } else if constexpr (requires { h.promise().stop_token(); }) {
    return stop_ref(h.promise().stop_token());
  } else {
    return stop_ref{};
  }
}

class operation {
 public:
  static constexpr task_state corio_wait = task_state::channel;  // diagnostics: what it waits on
  // Resumed only by its owner's thread (schedule, post, or the owner's dispatch), never inline
  // by another thread: the diagnostics may note a suspension after await_suspend returned true
  // (task_trace.hpp).
  static constexpr bool corio_resumes_on_owner = true;
  operation() noexcept {}  // not `= default`: node_ (in a union) starts unmade
  operation(const operation&) = delete;
  operation& operator=(const operation&) = delete;

  // Suspends `awaiting` on this operation. The derived class has already linked itself where
  // its completer will find it. Returns false (resume at once) if stop was already requested;
  // the caller then unlinks and reports operation_canceled.
  // A spawned task's stop state costs one CAS here and one in disarm(); a std::stop_token
  // registers a std::stop_callback.
  bool arm(std::coroutine_handle<> awaiting, const stop_ref& stop) noexcept;
  // The same, for an operation that knows its executor (a socket's registration does): no
  // look-up of the thread's executor.
  bool arm(std::coroutine_handle<> awaiting, const stop_ref& stop, executor* owner) noexcept;

  // Completes on the owner thread: schedules the awaiting coroutine unless a cancel got there
  // first, in which case the cancel path resumes it and this result stands.
  void complete_local() noexcept;
  // Completes from any thread; fails (returns false) once a cancel was requested, so the
  // caller keeps whatever it was about to hand over.
  bool complete_remote() noexcept;

  // Completes on the owner thread from the executor's own dispatch, where resuming at once is
  // safe: like complete_local(), but the coroutine runs now instead of on the next turn.
  // Defined in lib/executor/executor.cpp, its only user, and inlined there.
  inline void complete_inline() noexcept;
  // Completes on the owner thread for a caller that resumes the coroutine itself, by symmetric
  // transfer: the coroutine to resume, or std::noop_coroutine() when a cancel got there first
  // (the cancel path resumes it, and this result stands).
  std::coroutine_handle<> complete_for_transfer() noexcept {
    if (mark_done() & cancel_bit) {
      return std::noop_coroutine();
    }
    return awaiting_;
  }

  // Called first in await_resume: after it no stop request can touch the operation.
  void disarm() noexcept {
    if (stop_task_) std::exchange(stop_task_, nullptr)->disarm(*this);
    if (has_stop_callback_) [[unlikely]] drop_stop_callback();
  }
  bool armed() const noexcept { return stop_task_ != nullptr || has_stop_callback_; }
  bool canceled() const noexcept { return canceled_; }
  executor* owner() const noexcept { return owner_; }

 protected:
  // An operation destroyed while armed (its frame torn down) leaves the task's stop state.
  ~operation() { disarm(); }
  // Owner thread: take the operation out of wherever it waits (readiness slot, timer wheel,
  // channel queue). Called only when it was not completed.
  virtual void unlink() noexcept = 0;
  // The cancel path's step on the owner thread. True: withdrawn now (unlink), resume as
  // cancelled. False: the kernel still owns the operation's buffers, so the operation resumes
  // itself later through resume_withdrawn(), once the kernel gave them back.
  virtual bool withdraw() noexcept {
    unlink();
    return true;
  }
  void resume_withdrawn(bool canceled) noexcept;

 private:
  friend class task_stop;  // request_stop() cancels the armed operation
  static constexpr std::uint8_t done_bit = 1;
  static constexpr std::uint8_t cancel_bit = 2;

  struct on_stop {
    operation* op;
    void operator()() const noexcept { op->request_cancel(); }
  };

  // Sets done_bit and returns the state before. An add, not an OR: done_bit is set once (one
  // completer) and cancel_bit once, so they are the same here, but an add whose result is
  // used is one `lock xadd`, where an OR needs a compare-exchange loop.
  std::uint8_t mark_done() noexcept {
    const std::uint8_t before = state_.fetch_add(done_bit, std::memory_order_acq_rel);
    assert(!(before & done_bit) && "an operation completed twice");
    return before;
  }
  void request_cancel() noexcept;
  // Out of line: std::stop_callback's destructor is large, and disarm() is inlined into every
  // co_await; the task's own stop state (stop_task_) is the usual case.
  void drop_stop_callback() noexcept;
  // arm()'s path through a std::stop_token: registers a std::stop_callback.
  bool arm_callback(const std::stop_token& token) noexcept;
  static void run_cancel(remote_node& n) noexcept;
  static void run_resume(remote_node& n) noexcept;

  std::coroutine_handle<> awaiting_;
  executor* owner_ = nullptr;
  std::atomic<std::uint8_t> state_{0};
  bool canceled_ = false;
  struct node : remote_node {
    operation* self = nullptr;
  };
  // Made when the operation is first posted (complete_remote, request_cancel), which most
  // never are: zeroing it would be three stores in every awaiter's constructor.
  union {
    node node_;
  };
  task_stop* stop_task_ = nullptr;  // armed there (the fast path)
  // A std::stop_callback, made and destroyed by hand (arm, drop_stop_callback) rather than a
  // std::optional member: the optional's destructor would be inlined, large, into every
  // awaiter's destructor, which then is not inlined itself.
  using stop_callback_type = std::stop_callback<on_stop>;
  alignas(stop_callback_type) unsigned char stop_callback_[sizeof(stop_callback_type)];
  bool has_stop_callback_ = false;
};

// Room for a msghdr and its iovec, filled by prepare_message (lib), so that no OS header is
// needed here and a datagram operation keeps its message in the awaiting frame.
struct msg_storage {
  alignas(8) std::byte bytes[96];
};

// An fd registered with the thread's executor: with a readiness backend, both directions,
// edge-triggered; with a completion engine, the socket's state there (input received ahead).
// Removed on destruction, which ends any operation still waiting on it with
// error::operation_aborted. Owned by an awaitable socket, used on its thread.
struct io_slot;
class io_operation;

// What the reactor last said about a registered socket, per direction (readiness backends):
// an edge sets it; a syscall that would block, or a stream read or write that moved fewer bytes
// than asked (the kernel's queue ran dry), clears it. Cleared means the next operation waits
// for the next edge instead of making a syscall that would return EAGAIN (tokio's per-socket
// readiness). Lives in the executor's slot; the edge-triggered registration guarantees the
// edge for anything that arrives after the clearing syscall. A hang-up or an error is sticky
// (never cleared): its edge may have been taken before a read that returned the last bytes,
// and nothing follows it. One byte of bits: an event sets them in one OR, and an operation
// tests its direction in one AND.
struct io_readiness {
  static constexpr std::uint8_t readable = 1;
  static constexpr std::uint8_t writable = 2;
  static constexpr std::uint8_t read_closed = 4;
  static constexpr std::uint8_t write_closed = 8;
  // A direction's bits: its edge, and its sticky end.
  static constexpr std::uint8_t read_side = readable | read_closed;
  static constexpr std::uint8_t write_side = writable | write_closed;
  std::uint8_t bits = readable | writable;  // unknown: the first operation tries its syscall

  static constexpr std::uint8_t side(bool read) noexcept { return read ? read_side : write_side; }
};

class io_registration {
 public:
  io_registration() noexcept = default;
  static result<io_registration> open(int fd);
  io_registration(io_registration&& other) noexcept;
  io_registration& operator=(io_registration&& other) noexcept;
  ~io_registration();
  explicit operator bool() const noexcept { return slot_ != nullptr; }
  void reset() noexcept;
  // reset() for a socket that lives on (handed to another thread): on a completion engine the
  // socket's receive-ahead is ended first, so no byte after this goes to this thread.
  void hand_over() noexcept;
  // True when operations on this fd go to a completion engine whole.
  bool completion_based() const noexcept { return completions_; }
  // Completion engines: a stream read answered from the bytes the socket received ahead,
  // with no operation made (nothing waits, nothing is submitted): bytes, 0 at the end of
  // the stream, -errno; nullopt when there are none and the read must be submitted.
  std::optional<std::int32_t> take_received(void* data, std::size_t size) noexcept;
  // Readiness backends: what the reactor last said (a syscall in a direction whose side bits
  // are clear would say EAGAIN). Null when there is none to go by (a completion engine, or no
  // registration): then the syscall is simply tried.
  const io_readiness* readiness() const noexcept { return ready_; }
  void ran_dry(bool read) noexcept {
    if (ready_) {
      ready_->bits &= static_cast<std::uint8_t>(
          ~(read ? io_readiness::readable : io_readiness::writable));
    }
  }

 private:
  friend class io_operation;
  io_registration(executor* owner, io_slot* slot, io_readiness* ready, bool completions) noexcept
      : owner_(owner), slot_(slot), ready_(ready), completions_(completions) {}
  executor* owner_ = nullptr;
  io_slot* slot_ = nullptr;
  io_readiness* ready_ = nullptr;  // the slot's; null on a completion engine
  bool completions_ = false;
};

// One socket operation. Two ways to run it, chosen by the registration:
// - readiness (epoll, kqueue): perform() is tried at once (edge-triggered readiness means the
//   data may already be there), and again on each readiness event until it no longer would
//   block;
// - completion engine: submit() hands the whole operation over (prepare()), and consume()
//   takes each answer, starting the rest while it is not finished (write_all's partial
//   writes). The engine may answer at once from input received ahead: then nothing suspends.
//   An operation without a prepare() waits for readiness with a one-shot poll instead and
//   then runs perform().
// The coroutine resumes only when there is a result. A cancelled operation the kernel holds
// resumes only after the kernel has finished with its buffers (its answer comes back).
class io_operation : public operation, private io_callback {
 public:
  static constexpr task_state corio_wait = task_state::io;
  enum class direction : std::uint8_t { read, write };

  // Waits for readiness, then perform(); false means resume now with error() (or cancelled).
  bool suspend(std::coroutine_handle<> awaiting, const stop_ref& stop,
               io_registration& reg, direction dir) noexcept;
  // Completion engines: submits `first`, prepare()'s request made by the caller (which knows
  // the operation's type: no virtual call on the way in); false means resume now.
  bool submit(std::coroutine_handle<> awaiting, const stop_ref& stop,
              io_registration& reg, direction dir, io_request& first) noexcept;
  // Runs the syscall; true when finished (the result is stored by the derived class).
  virtual bool perform() noexcept = 0;
  // Describes the operation as a whole request; false when it has no such form.
  virtual bool prepare(io_request&) noexcept { return false; }
  // Takes an answer (bytes, a new fd, or -errno); true when finished.
  virtual bool consume(std::int32_t) noexcept { return true; }
  // The executor's call on a readiness event: retry, and on a result leave the slot (where it
  // waits: `waiting_here`) and resume the awaiting coroutine right here (no trip through the
  // ready queue). Nothing of the operation is touched after that: the resumed coroutine may
  // have destroyed it.
  void on_ready(io_operation*& waiting_here) noexcept;
  // The executor's call when the socket this operation waits on is closed: it ends with
  // error::operation_aborted (or with a result the kernel delivered first).
  void on_socket_closed() noexcept;
  // The engine still owes this operation an answer.
  bool pending() const noexcept { return pending_; }
  // Why it ended without a result: the slot is busy, no registration, the socket closed, or a
  // kernel error.
  std::error_code suspend_error() const noexcept {
    return error_category_ ? std::error_code(error_value_, *error_category_) : std::error_code();
  }

 protected:
  // A frame destroyed while suspended here (executor shutdown) leaves no dangling waiter, and
  // no buffer the kernel could still write to. Inline, because every co_await on a socket runs
  // it: an operation that finished (the usual case) holds nothing and costs three tests.
  [[gnu::always_inline]] ~io_operation() {
    if (slot_ != nullptr || pending_ || armed()) [[unlikely]] release_on_destroy();
  }
  void unlink() noexcept override;
  bool withdraw() noexcept override;

 private:
  enum class mode : std::uint8_t { readiness, poll_once, whole };
  static void answered(io_callback& cb, std::int32_t result) noexcept;
  void on_answer(std::int32_t result) noexcept;
  bool link(io_registration& reg, direction dir) noexcept;
  // Starts the request of mode_: an answer now (engine), nullopt when one will come, or why
  // it could not start.
  result<std::optional<std::int32_t>> start() noexcept;
  // start() of a whole request already prepared.
  result<std::optional<std::int32_t>> start_whole(io_request& req) noexcept;
  void finish_with_error(std::error_code ec) noexcept;
  void set_suspend_error(std::error_code ec) noexcept {
    error_value_ = ec.value();
    error_category_ = ec ? &ec.category() : nullptr;
  }
  void release_on_destroy() noexcept;

  io_slot* slot_ = nullptr;
  direction direction_ = direction::read;
  mode mode_ = mode::readiness;
  bool pending_ = false;      // the engine owes us an answer
  bool withdrawing_ = false;  // cancelled: waiting for that answer
  bool aborted_ = false;      // the socket closed: waiting for that answer
  bool abandoned_ = false;    // the frame is going away: only wait for the kernel
  // suspend_error(), kept as its parts: a std::error_code member would call
  // std::system_category() (out of line, in libstdc++) in every awaiter's constructor.
  int error_value_ = 0;
  const std::error_category* error_category_ = nullptr;
};

// Fills `m` with a one-buffer message to or from `addr` (recvmsg's address is written there;
// its length comes back through message_address_length).
void prepare_message(msg_storage& m, void* buf, std::size_t len, void* addr,
                     std::uint32_t addr_capacity) noexcept;
std::uint32_t message_address_length(const msg_storage& m) noexcept;

// A deadline on the thread's timer wheel, its node in the awaiting frame.
class timer_operation : public operation, public timer_node {
 public:
  static constexpr task_state corio_wait = task_state::timer;
  bool suspend(std::coroutine_handle<> awaiting, const stop_ref& stop, tick deadline) noexcept;
  // Fired by the wheel.
  void fire() noexcept { complete_local(); }

 protected:
  ~timer_operation() {
    disarm();
    if (linked) unlink();
  }
  void unlink() noexcept override;
};

// Spawned tasks an executor still owns; it destroys what is left when it shuts down.
struct spawn_link {
  spawn_link* prev = nullptr;
  spawn_link* next = nullptr;
  std::coroutine_handle<> frame;
  task_stop* stop = nullptr;  // the task's, for runtime shutdown (request_stop_all)
  task_trace trace;                  // for the diagnostics (lib/executor/diagnostics.cpp)
};

// The calling thread's executor, or nullptr outside corio threads.
executor* current_executor() noexcept;
// Whether this thread's executor hands connects to a completion engine whole.
bool connects_whole() noexcept;
void schedule(executor& ex, std::coroutine_handle<> h);
void post(executor& ex, remote_node& n) noexcept;
tick now_tick(executor& ex) noexcept;
// The time on this thread's executor's clock (virtual in corio::sim); the machine's steady clock
// outside corio threads.
std::chrono::steady_clock::time_point clock_now() noexcept;
tick deadline_after(executor& ex, std::chrono::nanoseconds d) noexcept;
tick deadline_at(executor& ex, std::chrono::steady_clock::time_point t) noexcept;
void track(executor& ex, spawn_link& link) noexcept;
// For the stall report: `frame` runs next on `ex`'s thread, continued directly (symmetric
// transfer) rather than resumed by the executor, which would note it itself.
void note_resuming(executor& ex, void* frame) noexcept;
void untrack(executor& ex, spawn_link& link) noexcept;

// Owns an executor installed as the calling thread's current one, for block_on.
class executor_scope {
 public:
  static result<executor_scope> create(backend_kind kind);
  executor_scope(executor_scope&& other) noexcept;
  ~executor_scope();
  executor& get() const noexcept { return *executor_; }
  result<void> run_until(const bool& done);

 private:
  explicit executor_scope(executor* ex) noexcept : executor_(ex) {}
  executor* executor_;
};

}  // namespace corio::detail
