// The process-wide signal handler and the signal_pipe that subscribes to it. See signals.hpp.
#include "driver/signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <mutex>
#include <thread>

namespace corio {

std::string_view signal_name(int signo) noexcept {
  switch (signo) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGCHLD: return "SIGCHLD";
    case SIGCONT: return "SIGCONT";
    case SIGSTOP: return "SIGSTOP";
    case SIGTSTP: return "SIGTSTP";
    case SIGTTIN: return "SIGTTIN";
    case SIGTTOU: return "SIGTTOU";
    case SIGURG: return "SIGURG";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGVTALRM: return "SIGVTALRM";
    case SIGPROF: return "SIGPROF";
    case SIGWINCH: return "SIGWINCH";
    case SIGIO: return "SIGIO";
    case SIGSYS: return "SIGSYS";
    default: return {};
  }
}

namespace detail {

namespace {

// What the handler writes: fixed size, far below PIPE_BUF, so each write() is atomic.
struct record {
  std::int32_t signo;
  std::int32_t pid;
  std::uint32_t uid;
};
static_assert(sizeof(record) <= PIPE_BUF);

constexpr int max_signo = 64;

// One subscriber as the handler sees it. Lock-free atomics only: the handler may not lock.
// `busy` counts handlers currently using the slot, so closing a pipe can wait until no handler
// can still write() to its fd number (which the kernel could otherwise hand to a new file).
struct slot {
  std::atomic<std::uint64_t> mask{0};
  std::atomic<int> fd{-1};  // write end; -1 = free
  std::atomic<int> busy{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

slot table[max_signal_pipes];

// Everything below is touched only outside the handler, under `table_mutex`: claiming and
// releasing slots, and sigaction (which is process-wide and must pair install with restore).
std::mutex table_mutex;
struct disposition {
  int watchers = 0;
  struct sigaction previous {};
};
disposition dispositions[max_signo + 1];

std::atomic<std::uint32_t> termination_signals{0};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);  // touched by the handler

constexpr std::uint64_t bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

void on_signal(int signo, siginfo_t* info, void* /*context*/) {
  const int saved_errno = errno;  // write() may change it under the interrupted code's feet
  const record r{signo, info != nullptr ? info->si_pid : 0,
                 info != nullptr ? static_cast<std::uint32_t>(info->si_uid) : 0u};
  const std::uint64_t b = bit(signo);
  for (slot& s : table) {
    if ((s.mask.load() & b) == 0) continue;
    // Dekker-style with release_slot(): announce use, then re-check the mask (seq_cst both
    // sides). Either the releaser sees busy > 0 and waits, or we see the cleared mask.
    s.busy.fetch_add(1);
    if ((s.mask.load() & b) != 0) {
      const int fd = s.fd.load();
      // Non-blocking: a full pipe drops the record (EAGAIN), which is documented and fine.
      if (fd >= 0) {
        [[maybe_unused]] const auto n = ::write(fd, &r, sizeof r);
      }
    }
    s.busy.fetch_sub(1);
  }
  if (signo == SIGTERM || signo == SIGINT) termination_signals.fetch_add(1);
  errno = saved_errno;
}

std::size_t claim_slot(int write_fd) noexcept {
  for (std::size_t i = 0; i < max_signal_pipes; ++i) {
    if (table[i].fd.load() < 0) {
      table[i].mask.store(0);
      table[i].fd.store(write_fd);
      return i;
    }
  }
  return max_signal_pipes;
}

void release_slot(std::size_t i) noexcept {
  table[i].mask.store(0);
  // A handler on another thread may be between its mask check and its write(). It finishes in
  // a few instructions; a handler on this thread cannot be waiting on us (it never blocks).
  while (table[i].busy.load() != 0) std::this_thread::yield();
  table[i].fd.store(-1);
}

result<void> install(int signo) {
  disposition& d = dispositions[signo];
  if (d.watchers == 0) {
    struct sigaction sa {};
    sa.sa_sigaction = &on_signal;
    // SA_RESTART: code interrupted by a signal meant for a loop should not see EINTR.
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(signo, &sa, &d.previous) != 0) return last_errno();
  }
  ++d.watchers;
  return {};
}

void uninstall(int signo) noexcept {
  disposition& d = dispositions[signo];
  // The last watcher gives the signal back to whoever had it before (often SIG_DFL).
  if (--d.watchers == 0) ::sigaction(signo, &d.previous, nullptr);
}

}  // namespace

std::uint32_t termination_signal_count() noexcept { return termination_signals.load(); }

result<signal_pipe> signal_pipe::open() {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return last_errno();
  std::size_t s = max_signal_pipes;
  {
    std::lock_guard lock(table_mutex);
    s = claim_slot(fds[1]);
  }
  if (s == max_signal_pipes) {
    ::close(fds[0]);
    ::close(fds[1]);
    return errno_code(EMFILE);
  }
  return signal_pipe(fds[0], fds[1], s);
}

signal_pipe::signal_pipe(signal_pipe&& other) noexcept
    : read_fd_(other.read_fd_), write_fd_(other.write_fd_), slot_(other.slot_),
      watched_(other.watched_) {
  // The table holds the fd and mask, not a pointer to us, so moving needs no table update.
  other.read_fd_ = other.write_fd_ = -1;
  other.slot_ = max_signal_pipes;
  other.watched_ = 0;
}

signal_pipe& signal_pipe::operator=(signal_pipe&& other) noexcept {
  if (this != &other) {
    close_all();
    read_fd_ = other.read_fd_;
    write_fd_ = other.write_fd_;
    slot_ = other.slot_;
    watched_ = other.watched_;
    other.read_fd_ = other.write_fd_ = -1;
    other.slot_ = max_signal_pipes;
    other.watched_ = 0;
  }
  return *this;
}

signal_pipe::~signal_pipe() { close_all(); }

void signal_pipe::close_all() noexcept {
  if (slot_ != max_signal_pipes) {
    std::lock_guard lock(table_mutex);
    // Stop deliveries first, then give the signals back, then free the fd numbers.
    release_slot(slot_);
    for (int signo = 1; signo <= max_signo; ++signo) {
      if ((watched_ & bit(signo)) != 0) uninstall(signo);
    }
  }
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  read_fd_ = write_fd_ = -1;
  slot_ = max_signal_pipes;
  watched_ = 0;
}

result<void> signal_pipe::watch(int signo) {
  if (signo < 1 || signo > max_signo || signo == SIGKILL || signo == SIGSTOP) {
    return errno_code(EINVAL);
  }
  if (slot_ == max_signal_pipes) return errno_code(EBADF);  // moved-from
  if ((watched_ & bit(signo)) != 0) return {};
  std::lock_guard lock(table_mutex);
  if (auto r = install(signo); !r) return r;  // EINVAL for numbers libc reserves (32, 33)
  watched_ |= bit(signo);
  table[slot_].mask.fetch_or(bit(signo));
  return {};
}

result<void> signal_pipe::unwatch(int signo) {
  if (signo < 1 || signo > max_signo) return errno_code(EINVAL);
  if ((watched_ & bit(signo)) == 0) return error::not_registered;
  std::lock_guard lock(table_mutex);
  table[slot_].mask.fetch_and(~bit(signo));
  watched_ &= ~bit(signo);
  uninstall(signo);
  return {};
}

std::size_t signal_pipe::drain(std::span<signal_info> out) {
  std::size_t stored = 0;
  record batch[32];
  while (stored < out.size() && read_fd_ >= 0) {
    const std::size_t want = std::min(out.size() - stored, std::size(batch));
    const ssize_t n = ::read(read_fd_, batch, want * sizeof(record));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: empty
    // Whole records only: every write was one atomic record, and we read multiples of it.
    const auto got = static_cast<std::size_t>(n) / sizeof(record);
    for (std::size_t i = 0; i < got; ++i) {
      const record& r = batch[i];
      if (r.signo < 1 || r.signo > max_signo || (watched_ & bit(r.signo)) == 0) continue;
      out[stored++] = signal_info{r.signo, r.pid, r.uid};
    }
  }
  return stored;
}

}  // namespace detail
}  // namespace corio
