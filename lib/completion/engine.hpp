// The completion engine: a kernel that runs whole socket operations (io_uring), below the
// executor. The executor hands it requests, each with the completion callback of the operation
// that made it, and waits on it; it never sees the kernel's vocabulary (user_data tags, CQE
// flags, buffer ids, multishot state).
//
// Contract:
// - start() queues a request (no system call: wait() hands the batch to the kernel in the same
//   call that waits), or answers it at once from what the socket already received ahead
//   (`stream` reads, accepts). A queued request's callback runs exactly once, from a later
//   wait() on the thread that owns the engine.
// - The kernel owns a request's buffers until its callback ran, even after cancel(); the
//   operation's owner may release them only then (wait_until helps a frame that is going away).
// - One wait() reaps every completion it finds and runs their callbacks; they may start new
//   requests. A wake (the waker) only ends the wait.
// - close() ends the socket's own input (buffered receive, queued connections) and asks the
//   kernel to end every request on the fd; their callbacks follow with -ECANCELED (or the
//   result that beat the cancel).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <corio/detail/io_request.hpp>
#include <corio/error.hpp>
#include <corio/reactor.hpp>

#include "completion/socket_input.hpp"
#include "reactor/backend.hpp"

namespace corio::detail {

class completion_engine {
 public:
  virtual ~completion_engine() = default;
  virtual backend_kind kind() const noexcept = 0;

  // Per socket: its input state, in the executor's slot (stable while the engine lives).
  virtual void open(socket_input& in, int fd) noexcept = 0;
  virtual void close(socket_input& in) noexcept = 0;
  // The socket lives on on another thread (release()): end its buffered receive here (waiting,
  // bounded, until the kernel stopped it), so this thread takes no more of its bytes. Bytes
  // already queued are dropped.
  virtual void hand_over(socket_input& in) noexcept = 0;

  // Runs `req` for `cb` on socket `in`. A value: the answer now, from input received ahead
  // (bytes or -errno), and `cb` is not called. nullopt: `cb` is called once, later.
  virtual result<std::optional<std::int32_t>> start(socket_input& in, const io_request& req,
                                                    io_callback& cb) noexcept = 0;
  // Waits once for readiness of `fd` (one-shot poll); `cb` gets the poll's result.
  virtual result<void> start_poll(int fd, bool writable, io_callback& cb) noexcept = 0;
  // Withdraws `cb`'s request. True: withdrawn now (it waited on the socket's input), no
  // callback follows. False: the kernel has it; its callback follows (-ECANCELED or a result).
  virtual bool cancel(socket_input& in, io_callback& cb) noexcept = 0;

  // Reaps and runs callbacks; blocks up to `timeout` (forever when empty) when there are none.
  virtual result<void> wait(std::optional<std::chrono::nanoseconds> timeout) = 0;
  // Runs completions (only: timers and ready tasks wait) until `done(arg)`; false if the
  // kernel did not answer within seconds.
  virtual bool wait_until(bool (*done)(const void*), const void* arg) noexcept = 0;

  // At most one per engine; a wake ends the current (or next) wait().
  virtual result<std::shared_ptr<wake_handle>> make_waker() = 0;

  // Received-ahead buffers queued on sockets now (tests: leaks and the per-socket cap).
  virtual std::size_t buffers_held() const noexcept = 0;
};

// io_uring when built and the kernel accepts it; backend_unavailable otherwise.
result<std::unique_ptr<completion_engine>> make_io_uring_engine();

}  // namespace corio::detail
