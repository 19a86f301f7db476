// The per-thread executor: a ready queue, a remote queue other threads post to, the sockets'
// slots, the timer wheel, and below it either a readiness backend or a completion engine. One per thread (thread-per-core); everything here except
// post() belongs to the owner thread.
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include <corio/detail/executor.hpp>
#include <corio/reactor.hpp>

#include "completion/engine.hpp"
#include "reactor/backend.hpp"

#include "executor/diagnostics.hpp"

#include "driver/clock.hpp"
#include "driver/timer_wheel.hpp"

namespace corio::detail {

// A registered fd: who waits to read and who waits to write. Slots live in fixed chunks, so an
// operation (and the completion engine) can hold a pointer while it waits.
struct io_slot {
  io_readiness ready;  // readiness backends (see detail/executor.hpp)
  int fd = -1;
  std::uint32_t index = 0;
  std::uint32_t generation = 1;
  std::uint32_t next_free = 0;
  io_operation* reader = nullptr;
  io_operation* writer = nullptr;
  socket_input input;  // the completion engine's state for the socket
};

// A FIFO of coroutines ready to run; a ring that grows, so steady state does not allocate.
class ready_queue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  // Inline: every schedule and resume goes through these (yield, wake-ups, spawn).
  void push(std::coroutine_handle<> h) {
    if (size_ == ring_.size()) [[unlikely]] grow();
    ring_[(head_ + size_) & (ring_.size() - 1)] = h;
    ++size_;
  }
  std::coroutine_handle<> pop() noexcept {
    auto h = ring_[head_];
    head_ = (head_ + 1) & (ring_.size() - 1);
    --size_;
    return h;
  }

 private:
  void grow();
  // A power of two, so that wrapping is a mask.
  std::vector<std::coroutine_handle<>> ring_ = std::vector<std::coroutine_handle<>>(256);
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

class executor;

// The calling thread's executor. Initial-exec TLS: a read is one %fs-relative load instead of a
// call to __tls_get_addr (global-dynamic, what -fPIC gives by default), and the hot paths read
// it (the socket's thread check, operations that do not know their executor). The cost: the
// library takes a slot of the static TLS block. That is what a library linked at start-up gets
// anyway; one loaded with dlopen takes it from glibc's static-TLS surplus (hundreds of bytes
// reserved for exactly this; we need 8). The same choice as glibc's own libraries and
// jemalloc.
// constinit: no dynamic initialisation, so no TLS wrapper call or init-function check.
extern thread_local constinit executor* this_thread_executor [[gnu::tls_model("initial-exec")]];

class executor {
 public:
  static result<std::unique_ptr<executor>> create(backend_kind kind);
  // The seam for corio::sim and tests: any backend (e.g. one that only advances a manual
  // clock), and the clock that timers read. The clock must outlive the executor.
  static result<std::unique_ptr<executor>> create(std::unique_ptr<detail::backend> b,
                                                  const clock& time);
  static result<std::unique_ptr<executor>> create(std::unique_ptr<completion_engine> e,
                                                  const clock& time);
  ~executor();
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  static executor* current() noexcept { return this_thread_executor; }
  backend_kind backend() const noexcept { return engine_ ? engine_->kind() : readiness_->kind(); }
  // Whether socket operations go to a completion engine whole rather than by readiness.
  bool completion_based() const noexcept { return engine_ != nullptr; }

  void schedule(std::coroutine_handle<> h) { ready_.push(h); }
  // Resumes `h` now if the loop is dispatching readiness (the caller, an operation's completion
  // from dispatch(), is then at the bottom of the loop's stack); else it is scheduled. Once
  // run_until's `done` is set nothing more is resumed in this turn, as the ready loop does.
  void resume_now(std::coroutine_handle<> h) {
    if (!dispatching_ || *done_) return schedule(h);
    diag_.resuming_inline(h.address());
    h.resume();
  }
  void post(remote_node& n) noexcept;  // any thread

  result<io_slot*> register_fd(int fd);
  void deregister(io_slot* slot) noexcept;

  // Completion engines (engine.hpp says when an answer comes).
  result<std::optional<std::int32_t>> start(io_slot& slot, const io_request& req,
                                            io_callback& cb) noexcept {
    return engine_->start(slot.input, req, cb);
  }
  std::optional<std::int32_t> take_received(io_slot& slot, void* data, std::size_t size) noexcept {
    return engine_->take_received(slot.input, data, size);
  }
  result<void> start_poll(int fd, bool writable, io_callback& cb) noexcept {
    return engine_->start_poll(fd, writable, cb);
  }
  bool cancel(io_slot& slot, io_callback& cb) noexcept { return engine_->cancel(slot.input, cb); }
  // For a frame destroyed while `op` is pending (its cancel already asked for): wait (only)
  // until the kernel has let go of its buffers, answering whatever else completes meanwhile.
  void abandon(const io_operation& op) noexcept;
  // Before a registered socket is handed to another thread (release()): its receive-ahead
  // ends here, so this thread takes no more of its bytes. Bytes already queued are dropped.
  void hand_over(io_slot& slot) noexcept {
    if (engine_) engine_->hand_over(slot.input);
  }
  std::size_t receive_buffers_held() const noexcept {
    return engine_ ? engine_->buffers_held() : 0;
  }

  tick now_tick() const noexcept { return time_.now_tick(); }
  std::chrono::steady_clock::time_point now() const noexcept { return time_.now(); }
  tick deadline_after(std::chrono::nanoseconds d) const noexcept { return time_.deadline_after(d); }
  tick deadline_at(std::chrono::steady_clock::time_point t) const noexcept {
    return time_.deadline_tick(t);
  }
  void arm(timer_operation& op, tick deadline) noexcept;
  void disarm(timer_operation& op) noexcept;

  // Runs until `*done` is set (by a coroutine this executor resumes).
  result<void> run_until(const bool& done);

  void track(spawn_link& link) noexcept;
  void untrack(spawn_link& link) noexcept;
  // For the multi-threaded runtime's shutdown (lib/executor/runtime.cpp): cancel every spawned
  // task, see whether any is left, destroy those left (also the destructor's first step).
  void request_stop_all() noexcept;
  bool has_tasks() const noexcept { return spawned_.next != &spawned_; }
  executor_diagnostics& diagnostics() noexcept { return diag_; }
  // runtime_options::resumes_per_io_poll; 0 is taken as 1 (both ask the kernel every turn).
  void set_resumes_per_io_poll(std::size_t n) noexcept { resumes_per_io_poll_ = n == 0 ? 1 : n; }
  void destroy_tasks() noexcept;

 private:
  executor(std::unique_ptr<detail::backend> b, std::unique_ptr<completion_engine> e,
           std::shared_ptr<wake_handle> w, const clock& time);
  result<void> park(bool has_work);
  inline void dispatch(const event& e) noexcept;  // inlined into run_until, its one caller
  void fire_timers() noexcept;
  void drain_remote() noexcept;
  io_slot* slot_at(std::uint32_t index) noexcept {
    return index < slot_capacity_ ? &slot_chunks_[index / slot_chunk][index % slot_chunk]
                                  : nullptr;
  }
  static constexpr std::uint32_t slot_chunk = 256;

  // Exactly one of the two. The engine is destroyed after the slots (declared before them):
  // its destructor waits for the kernel, and late completions name slots.
  std::unique_ptr<detail::backend> readiness_;
  std::unique_ptr<completion_engine> engine_;
  std::shared_ptr<wake_handle> waker_;
  events events_{1024};
  time_source time_;
  timer_wheel wheel_;
  ready_queue ready_;
  // Resumes since the reactor was last asked, and the bound on them while work is queued; see
  // run_until. Side by side: the loop reads both every turn.
  std::size_t resumed_since_poll_ = 0;
  std::size_t resumes_per_io_poll_ = 61;  // runtime_options::resumes_per_io_poll
  bool dispatching_ = false;     // inside run_until's dispatch of readiness events
  const bool* done_ = nullptr;   // run_until's

  std::vector<std::unique_ptr<io_slot[]>> slot_chunks_;
  std::uint32_t slot_capacity_ = 0;
  std::uint32_t free_slot_;

  std::mutex remote_lock_;
  remote_node* remote_head_ = nullptr;
  remote_node* remote_tail_ = nullptr;
  std::atomic<bool> remote_pending_{false};
  std::atomic<bool> parked_{false};

  spawn_link spawned_;  // sentinel of the list of live spawned tasks
  executor_diagnostics diag_{spawned_};  // counters and the watchdog's view (diagnostics.hpp)
  executor* previous_;  // the thread's executor before this one, restored on destruction
};

}  // namespace corio::detail
