// The per-thread executor: a ready queue, a remote queue other threads post to, the reactor's
// readiness slots and the timer wheel. One per thread (thread-per-core); everything here except
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

#include "reactor/backend.hpp"

#include "executor/accepted_connections.hpp"
#include "executor/diagnostics.hpp"
#include "executor/received_buffers.hpp"

#include "driver/clock.hpp"
#include "driver/timer_wheel.hpp"

namespace corio::detail {

// A registered fd: who waits to read and who waits to write. Slots live in fixed chunks, so an
// operation can hold a pointer while it waits.
struct io_slot {
  int fd = -1;
  std::uint32_t index = 0;
  std::uint32_t generation = 1;
  std::uint32_t next_free = 0;
  io_operation* reader = nullptr;
  io_operation* writer = nullptr;
  receive_queue received;  // buffered receive (completion kernels, stream sockets)
  accept_queue accepted;   // multishot accept (completion kernels, listeners)
};

// A FIFO of coroutines ready to run; a ring that grows, so steady state does not allocate.
class ready_queue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  void push(std::coroutine_handle<> h);
  std::coroutine_handle<> pop() noexcept;

 private:
  std::vector<std::coroutine_handle<>> ring_ = std::vector<std::coroutine_handle<>>(256);
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

class executor {
 public:
  static result<std::unique_ptr<executor>> create(backend_kind kind);
  // The seam for corio::sim and tests: any backend (e.g. one that only advances a manual
  // clock), and the clock that timers read. The clock must outlive the executor.
  static result<std::unique_ptr<executor>> create(std::unique_ptr<detail::backend> b,
                                                  const clock& time);
  ~executor();
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  static executor* current() noexcept;
  backend_kind backend() const noexcept { return backend_->kind(); }
  // Whether socket operations go to the kernel whole (io_uring) rather than by readiness.
  bool completion_based() const noexcept { return completions_; }

  void schedule(std::coroutine_handle<> h) { ready_.push(h); }
  void post(remote_node& n) noexcept;  // any thread

  result<io_slot*> register_fd(int fd);
  void deregister(io_slot* slot) noexcept;

  // Completion backends. Requests are queued and reach the kernel with the next wait.
  result<void> submit(const io_request& req, io_operation* op) noexcept;
  result<void> submit_poll(int fd, bool writable, io_operation* op) noexcept;
  void cancel(io_operation* op) noexcept;  // its completion follows (-ECANCELED or a result)
  // For a frame destroyed while `op` is in flight: cancel it and wait (only) until the kernel
  // has let go of its buffers, handling whatever else completes meanwhile.
  void abandon(io_operation* op, bool cancel_requested) noexcept;
  // Before a registered socket is handed to another thread (release()): its multishot receive
  // ends here, so this thread takes no more of its bytes. Bytes already queued are dropped.
  void hand_over(io_slot& slot) noexcept;

  // Queued input (received_buffers.hpp, accepted_connections.hpp). want_input arms the slot's
  // multishot receive or accept unless it is; false: none can be armed, so the operation must
  // submit a plain request.
  bool want_input(io_slot& slot, queued_input input) noexcept;
  std::size_t copy_received(io_slot& slot, std::span<std::byte> dst) noexcept;
  // How the stream ended, once nothing is left queued; reported once.
  std::optional<std::int32_t> take_receive_end(io_slot& slot) noexcept;
  // A direct read that stood in for a dry receive finished: try buffers again next time.
  void receive_recovered(io_slot& slot) noexcept { slot.received.dry = false; }
  std::size_t receive_buffers_held() const noexcept { return buffers_.held(); }

  tick now_tick() const noexcept { return time_.now_tick(); }
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
  void destroy_tasks() noexcept;

 private:
  executor(std::unique_ptr<detail::backend> b, std::shared_ptr<wake_handle> w,
           const clock& time);
  result<void> park(bool has_work);
  void dispatch(const event& e) noexcept;
  void handle_completions(const completions& done) noexcept;
  template <class Done>
  bool reap_until(Done done_now) noexcept;  // runs completions (only) until done_now()
  void on_receive(io_slot& slot, const completion& c) noexcept;
  void on_accept(io_slot& slot, const completion& c) noexcept;
  void stop_input(io_slot& slot) noexcept;
  void cancel_input(io_slot& slot, queued_input input) noexcept;
  bool arm_input(io_slot& slot, queued_input input) noexcept;
  void fire_timers() noexcept;
  void drain_remote() noexcept;
  io_slot* slot_at(std::uint32_t index) noexcept;

  std::unique_ptr<detail::backend> backend_;
  std::shared_ptr<wake_handle> waker_;
  bool completions_;
  received_buffers buffers_;
  bool multishot_accept_ = true;  // until a kernel refuses it (before 5.19)
  events events_{1024};
  completions done_{1024};
  time_source time_;
  timer_wheel wheel_;
  ready_queue ready_;

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
