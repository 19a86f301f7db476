// Process signals delivered to loops as records read from a pipe (the self-pipe trick).
//
// One process-wide handler serves every loop. It only does async-signal-safe work: for each
// subscriber (a fixed table of lock-free atomic slots: write fd + 64-bit signal mask) whose mask
// holds the signal, it write()s one fixed-size record to that subscriber's non-blocking pipe.
// A record is smaller than PIPE_BUF, so the write is atomic: readers never see half a record.
//
// Limits, on purpose:
// - When a pipe is full (its loop has not drained it for a long time) the record is dropped.
//   Signals coalesce in the kernel anyway, so a record means "arrived at least once".
// - Signals 1..64 only (the mask is 64 bits; Linux's SIGRTMAX is 64), at most
//   max_signal_pipes pipes open at once (EMFILE beyond).
// - A record may still arrive shortly after unwatch() (a handler already running on another
//   thread); drain() drops records of signals this pipe no longer watches.
// - sigaction is process-wide: the first watcher of a signal installs the handler and saves the
//   previous disposition; the last one to unwatch restores it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <corio/error.hpp>
#include <corio/signal.hpp>

namespace corio::detail {

inline constexpr std::size_t max_signal_pipes = 64;

// How many SIGTERM/SIGINT the handler has seen (any pipe watching them): the diagnostics'
// shutdown deadline starts when this moves (lib/executor/diagnostics.cpp).
std::uint32_t termination_signal_count() noexcept;

// Delivers process signals to one loop as records read from a non-blocking pipe.
// One thread at a time uses a signal_pipe; any number may exist, in any threads.
class signal_pipe {
 public:
  static result<signal_pipe> open();  // pipe2(O_NONBLOCK | O_CLOEXEC)

  signal_pipe(signal_pipe&& other) noexcept;
  signal_pipe& operator=(signal_pipe&& other) noexcept;
  signal_pipe(const signal_pipe&) = delete;
  signal_pipe& operator=(const signal_pipe&) = delete;
  ~signal_pipe();  // unwatches everything it watches, then closes the pipe

  // Register this for readable (edge-triggered: drain() until it returns less than asked).
  int read_fd() const noexcept { return read_fd_; }

  // SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, ... SIGKILL, SIGSTOP and numbers
  // outside 1..64 fail with EINVAL. Watching a signal twice is a no-op.
  result<void> watch(int signo);
  // not_registered when this pipe does not watch signo.
  result<void> unwatch(int signo);

  // Reads pending records into `out` until the pipe is empty or `out` is full; returns how
  // many were stored.
  std::size_t drain(std::span<signal_info> out);

 private:
  signal_pipe(int read_fd, int write_fd, std::size_t slot) noexcept
      : read_fd_(read_fd), write_fd_(write_fd), slot_(slot) {}
  void close_all() noexcept;

  int read_fd_ = -1;
  int write_fd_ = -1;
  std::size_t slot_ = max_signal_pipes;  // index in the handler's table; max = none
  std::uint64_t watched_ = 0;             // this pipe's mask; the table slot mirrors it
};

}  // namespace corio::detail
