// The io_uring readiness backend (Linux >= 5.13), for corio::poll and the callback loop.
// Implements detail::backend; see backend.hpp. (Executors run whole operations on io_uring
// through lib/completion/io_uring_engine.cpp instead.)
//
// - Readiness is a multishot poll per fd (IORING_POLL_ADD_MULTI, always with POLLRDHUP). The
//   kernel posts one CQE per wake-up of the fd's wait queue that matches the interest: an event
//   per readiness change, like EPOLLET. When a CQE comes without IORING_CQE_F_MORE the poll
//   ended (CQ overflow, ...) and is re-armed; a re-armed poll may report a spurious event.
// - SQEs are only queued by add/modify/remove; wait() hands them to the kernel in the
//   same io_uring_enter that waits, so a loop turn costs one system call (none when there is
//   neither anything to submit nor a reason to block).
// - user_data = payload << 2 | kind. A poll's payload is (generation << 31 | fd): modify and
//   remove bump the fd's generation, so CQEs of a removed poll that are still in flight miss.
// - wait() merges the CQEs of one fd within a batch into one event and does not allocate: its
//   scratch array grows only for an `events` bigger than any before.
// - A poll holds a reference to its file until its removal reaches the kernel (the next
//   wait()): closing a registered-then-removed fd closes the socket then, not at close(). The
//   destructor cancels every request first, so destroying the backend releases files at once.
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "reactor/backend.hpp"
#include "reactor/eventfd_waker.hpp"
#include "reactor/io_uring_setup.hpp"

namespace corio::detail {
namespace {

constexpr std::uint64_t reserved_token = ~std::uint64_t{0};
enum source : std::uint64_t { internal = 0, readiness = 1, wakeup = 2 };

constexpr std::uint64_t pack(source k, std::uint64_t payload) noexcept { return payload << 2 | k; }

unsigned to_poll_mask(interest i) noexcept {
  unsigned bits = POLLRDHUP;
  if (i.is_readable()) bits |= POLLIN | POLLPRI;
  if (i.is_writable()) bits |= POLLOUT;
  return bits;
}

std::uint8_t to_flags(unsigned bits) noexcept {
  std::uint8_t flags = 0;
  if ((bits & POLLIN) != 0) flags |= event::readable;
  if ((bits & POLLOUT) != 0) flags |= event::writable;
  if ((bits & POLLERR) != 0) flags |= event::error;
  if ((bits & (POLLRDHUP | POLLHUP)) != 0) flags |= event::read_closed;
  if ((bits & POLLHUP) != 0) flags |= event::write_closed;
  if ((bits & POLLPRI) != 0) flags |= event::priority;
  return flags;
}

struct registration {
  dev_t device = 0;  // which file the fd named when it was added: a closed-and-reused fd
  ino_t inode = 0;   // number names another one (its old poll is then a ghost to retire)
  std::uint32_t generation = 0;
  bool active = false;
  interest wanted = interest::readable;
  token user{};
  std::uint64_t batch = 0;  // the wait() that last reported it, and where in scratch_
  std::size_t index = 0;
};

class io_uring_backend final : public backend {
 public:
  explicit io_uring_backend(const io_uring& ring) : ring_(ring), scratch_(1024) {}
  io_uring_backend(const io_uring_backend&) = delete;
  io_uring_backend& operator=(const io_uring_backend&) = delete;
  // The ring's own teardown runs later in a kernel worker, and until then its polls keep their
  // files open; cancelling every request first releases them now, as closing an epoll fd does.
  ~io_uring_backend() override {
    // Every request must also have *ended* before the ring closes: the ring's teardown otherwise
    // cancels what is left from a kernel worker, whose completions come back to this thread as
    // task work and interrupt its next blocking wait (an epoll_wait of another loop returned
    // EINTR early). So cancel everything and reap until no request is in flight (bounded).
    if (io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_)) {
      ::io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      ::io_uring_sqe_set_data64(sqe, pack(internal, 0));
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      (void)::io_uring_submit(&ring_);
      while (in_flight_ > 0 && std::chrono::steady_clock::now() < give_up) {
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec ts{0, 10'000'000};
        (void)::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        reap(0);  // only the in-flight count matters now
      }
    }
    exit_ring(ring_);
  }

  backend_kind kind() const noexcept override { return backend_kind::io_uring; }

  result<void> add(int fd, token t, interest i) override {
    if (static_cast<std::uint64_t>(t) == reserved_token) return error::invalid_token;
    // The kernel reports a bad fd only in a CQE; epoll's errors are synchronous, so check here.
    struct stat st {};
    if (::fstat(fd, &st) != 0) return last_errno();
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      return std::make_error_code(std::errc::operation_not_permitted);
    }
    if (static_cast<std::size_t>(fd) >= regs_.size()) regs_.resize(static_cast<std::size_t>(fd) + 1);
    registration& r = regs_[static_cast<std::size_t>(fd)];
    if (r.active) {
      // epoll forgets a closed fd; our poll holds the old file: retire it if the number moved on.
      if (r.device == st.st_dev && r.inode == st.st_ino) return error::already_registered;
      if (auto c = cancel_poll(fd); !c) return c;
    }
    r.active = true;
    r.device = st.st_dev;
    r.inode = st.st_ino;
    return arm(fd, t, i);
  }

  result<void> modify(int fd, token t, interest i) override {
    if (static_cast<std::uint64_t>(t) == reserved_token) return error::invalid_token;
    if (!registered(fd)) return error::not_registered;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return last_errno();
    registration& reg = regs_[static_cast<std::size_t>(fd)];
    if (auto r = cancel_poll(fd); !r) return r;
    if (reg.device != st.st_dev || reg.inode != st.st_ino) {  // closed behind our back
      reg.active = false;
      return error::not_registered;
    }
    return arm(fd, t, i);
  }

  result<void> remove(int fd) override {
    if (!registered(fd)) return error::not_registered;
    regs_[static_cast<std::size_t>(fd)].active = false;
    return cancel_poll(fd);
  }

  result<void> wait(events& out, std::optional<std::chrono::nanoseconds> timeout) override {
    out.clear();
    if (scratch_.size() < out.capacity()) scratch_.resize(out.capacity());
    ++batch_;
    count_ = 0;
    const bool non_blocking = timeout && timeout->count() <= 0;
    const auto deadline = std::chrono::steady_clock::now() + (timeout ? *timeout : timeout->zero());
    for (;;) {
      reap(out.capacity());
      if (count_ > 0 || non_blocking) {
        // Hand queued SQEs over without blocking; no system call when there are none.
        if (::io_uring_sq_ready(&ring_) > 0 || work_pending()) {
          const int r = ::io_uring_submit_and_get_events(&ring_);
          if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) return os_error(r);
          reap(out.capacity());
        }
        break;
      }
      io_uring_cqe* cqe = nullptr;
      int r = 0;
      if (!timeout) {
        r = ::io_uring_submit_and_wait(&ring_, 1);
      } else {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left.count() <= 0) break;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        __kernel_timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
        r = ::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      }
      // EINTR (a signal handler ran) waits again for the time left, like epoll.cpp.
      if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) return os_error(r);
      // Loop: reap what came; only internal or stale CQEs means wait again.
    }
    for (std::size_t k = 0; k < count_; ++k) out.push(scratch_[k]);
    return {};
  }

  result<std::shared_ptr<wake_handle>> make_waker(token t) override {
    if (waker_) return error::already_registered;
    auto w = std::make_shared<eventfd_waker>();
    if (auto opened = w->open(); !opened) return opened.error();
    waker_ = w;
    waker_token_ = t;
    if (auto armed = arm_waker(); !armed) {
      waker_.reset();
      return armed.error();
    }
    return std::shared_ptr<wake_handle>(std::move(w));
  }

 private:
  bool registered(int fd) const noexcept {
    return fd >= 0 && static_cast<std::size_t>(fd) < regs_.size() &&
           regs_[static_cast<std::size_t>(fd)].active;
  }

  // Completions the kernel holds back as task work until this thread enters it (COOP_TASKRUN,
  // DEFER_TASKRUN): TASKRUN_FLAG raises this bit so a turn that does not block can tell.
  bool work_pending() const noexcept {
    return (IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
  }

  std::uint64_t poll_data(int fd) const noexcept {
    const std::uint64_t gen = regs_[static_cast<std::size_t>(fd)].generation & 0x7FFF'FFFFu;
    return pack(readiness, gen << 31 | static_cast<std::uint32_t>(fd));
  }

  // An SQE, submitting the queue first when it is full.
  io_uring_sqe* next_sqe() noexcept {
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (sqe) return sqe;
    (void)::io_uring_submit(&ring_);
    return ::io_uring_get_sqe(&ring_);
  }

  result<void> arm(int fd, token t, interest i) noexcept {
    registration& r = regs_[static_cast<std::size_t>(fd)];
    r.user = t;
    r.wanted = i;
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    ::io_uring_prep_poll_multishot(sqe, fd, to_poll_mask(i));
    ::io_uring_sqe_set_data64(sqe, poll_data(fd));
    ++in_flight_;
    return {};
  }

  // Removes the fd's poll and makes its in-flight CQEs stale.
  result<void> cancel_poll(int fd) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    ::io_uring_prep_poll_remove(sqe, poll_data(fd));
    ::io_uring_sqe_set_data64(sqe, pack(internal, 0));
    ++regs_[static_cast<std::size_t>(fd)].generation;
    return {};
  }

  result<void> arm_waker() noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    ::io_uring_prep_poll_multishot(sqe, waker_->fd(), POLLIN);
    ::io_uring_sqe_set_data64(sqe, pack(wakeup, 0));
    ++in_flight_;
    return {};
  }

  void report(token t, std::uint8_t flags, registration* r) noexcept {
    if (r && r->batch == batch_) {  // a second CQE for this fd in this batch: merge
      scratch_[r->index] = event(t, static_cast<std::uint8_t>(scratch_[r->index].flags() | flags));
      return;
    }
    if (r) {
      r->batch = batch_;
      r->index = count_;
    }
    scratch_[count_++] = event(t, flags);
  }

  // Consumes CQEs until `capacity` distinct events are reported; 0 (the destructor) only counts
  // the requests that ended.
  void reap(std::size_t capacity) noexcept {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      const std::uint64_t data = ::io_uring_cqe_get_data64(cqe);
      const auto k = static_cast<source>(data & 3);
      if (k != internal && count_ == capacity && capacity != 0) break;
      ++seen;
      if (k != internal && (cqe->flags & IORING_CQE_F_MORE) == 0) --in_flight_;
      if (capacity == 0) continue;
      if (k == wakeup) {
        const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        if (!more && waker_) (void)arm_waker();
        // Drain every time (nothing may be left behind), report once per batch.
        if (waker_ && waker_->drain() && waker_batch_ != batch_) {
          waker_batch_ = batch_;
          report(waker_token_, event::readable, nullptr);
        }
      } else if (k == readiness) {
        on_poll(data >> 2, *cqe);
      }
    }
    ::io_uring_cq_advance(&ring_, seen);
  }

  void on_poll(std::uint64_t payload, const io_uring_cqe& cqe) noexcept {
    const auto fd = static_cast<int>(payload & 0x7FFF'FFFFu);
    if (!registered(fd)) return;
    registration& r = regs_[static_cast<std::size_t>(fd)];
    if ((r.generation & 0x7FFF'FFFFu) != (payload >> 31)) return;  // a removed poll's late CQE
    if (cqe.res < 0) {  // the poll failed (the fd was closed under it): waiters find out
      report(r.user, event::error, &r);
      return;
    }
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) (void)arm(fd, r.user, r.wanted);
    report(r.user, to_flags(static_cast<unsigned>(cqe.res)), &r);
  }

  io_uring ring_;
  std::vector<registration> regs_;  // indexed by fd
  std::vector<event> scratch_;
  std::size_t count_ = 0;
  std::uint64_t batch_ = 0;
  std::uint64_t waker_batch_ = 0;
  std::shared_ptr<eventfd_waker> waker_;
  token waker_token_{};
  std::size_t in_flight_ = 0;  // requests whose last CQE has not been reaped
};

}  // namespace

result<std::unique_ptr<backend>> make_io_uring_backend() {
  io_uring ring{};
  io_uring_params params{};
  // A public poll may be handed between threads: no DEFER_TASKRUN.
  const int r = init_ring(ring, params, ring_threads::any);
  // EPERM: disabled by /proc/sys/kernel/io_uring_disabled or seccomp; ENOSYS: not in the kernel.
  if (r < 0) return os_error(r);
  if (!has_needed_features(params)) {
    exit_ring(ring);
    return error::backend_unavailable;
  }
  try {
    return std::unique_ptr<backend>(std::make_unique<io_uring_backend>(ring));
  } catch (...) {
    exit_ring(ring);
    throw;
  }
}

}  // namespace corio::detail
