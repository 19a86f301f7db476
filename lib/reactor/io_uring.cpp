// The io_uring backend (Linux >= 5.13). Implements detail::backend; see backend.hpp.
//
// - Readiness is a multishot poll per fd (IORING_POLL_ADD_MULTI, always with POLLRDHUP). The
//   kernel posts one CQE per wake-up of the fd's wait queue that matches the interest: an event
//   per readiness change, like EPOLLET. When a CQE comes without IORING_CQE_F_MORE the poll
//   ended (CQ overflow, ...) and is re-armed; a re-armed poll may report a spurious event.
// - SQEs are only queued by add/modify/remove/submit; wait() hands them to the kernel in the
//   same io_uring_enter that waits, so a loop turn costs one system call (none when there is
//   neither anything to submit nor a reason to block).
// - user_data = payload << 2 | kind. A poll's payload is (generation << 31 | fd): modify and
//   remove bump the fd's generation, so CQEs of a removed poll that are still in flight miss.
//   A completion's payload is the caller's user_data (it must leave the low two bits free).
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
#include "reactor/io_uring_buffer_ring.hpp"

#if defined(__SANITIZE_THREAD__)
#define CORIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
#endif
#endif
#if defined(CORIO_TSAN) && __has_include(<sanitizer/tsan_interface.h>)
#include <sanitizer/tsan_interface.h>
#else
#undef CORIO_TSAN
#endif

namespace corio::detail {
namespace {

// liburing maps and unmaps a ring with raw system calls, which ThreadSanitizer does not
// intercept: when a thread's ring is destroyed and another thread's new ring is mapped at the
// same address, TSan still holds the first thread's writes to those SQEs and reports the
// second thread's as a data race (issue 17, finding 6). The kernel does order them (munmap
// before mmap), so tell TSan: every ring teardown releases, every new ring acquires.
#ifdef CORIO_TSAN
char ring_handoff;
void ring_mapped() noexcept { __tsan_acquire(&ring_handoff); }
void ring_unmapping() noexcept { __tsan_release(&ring_handoff); }
#else
void ring_mapped() noexcept {}
void ring_unmapping() noexcept {}
#endif

constexpr std::uint64_t reserved_token = ~std::uint64_t{0};
// A loop turn queues about two requests per busy connection (a receive and a send); a full
// submission queue costs an extra io_uring_enter, which at 256 entries made 512 connections
// pay 0.67 system calls per echoed message. 2048 + 8192 entries are 256 KiB per ring.
constexpr unsigned sq_entries = 2048;
constexpr unsigned cq_entries = 8192;
enum source : std::uint64_t { internal = 0, readiness = 1, wakeup = 2, completed = 3 };

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

std::error_code os_error(int negative_errno) noexcept {
  return {-negative_errno, std::system_category()};
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
        discard_completions();
      }
    }
    ring_unmapping();
    ::io_uring_queue_exit(&ring_);
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

  result<void> wait(events& out, completions* done,
                    std::optional<std::chrono::nanoseconds> timeout) override {
    out.clear();
    if (done) done->clear();
    if (scratch_.size() < out.capacity()) scratch_.resize(out.capacity());
    ++batch_;
    count_ = 0;
    const bool non_blocking = timeout && timeout->count() <= 0;
    const auto deadline = std::chrono::steady_clock::now() + (timeout ? *timeout : timeout->zero());
    for (;;) {
      reap(out.capacity(), done);
      if (count_ > 0 || (done && !done->empty()) || non_blocking) {
        // Hand queued SQEs over without blocking; no system call when there are none.
        if (::io_uring_sq_ready(&ring_) > 0 || work_pending()) {
          const int r = ::io_uring_submit_and_get_events(&ring_);
          if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) return os_error(r);
          reap(out.capacity(), done);
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

  bool supports_completions() const noexcept override { return true; }

  result<void> submit(const completion_request& req) override {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    switch (req.op) {
      case completion_request::kind::recv:
        ::io_uring_prep_recv(sqe, req.fd, req.data, req.size, req.flags);
        break;
      case completion_request::kind::send:
        ::io_uring_prep_send(sqe, req.fd, req.data, req.size, req.flags);
        break;
      case completion_request::kind::recvmsg:
        ::io_uring_prep_recvmsg(sqe, req.fd, static_cast<msghdr*>(req.data),
                                static_cast<unsigned>(req.flags));
        break;
      case completion_request::kind::sendmsg:
        ::io_uring_prep_sendmsg(sqe, req.fd, static_cast<const msghdr*>(req.data),
                                static_cast<unsigned>(req.flags));
        break;
      case completion_request::kind::accept:
        ::io_uring_prep_accept(sqe, req.fd, static_cast<sockaddr*>(req.data), req.addr_len,
                               req.flags);
        break;
      case completion_request::kind::connect:
        ::io_uring_prep_connect(sqe, req.fd, static_cast<const sockaddr*>(req.data),
                                static_cast<socklen_t>(req.size));
        break;
      case completion_request::kind::poll:
        ::io_uring_prep_poll_add(sqe, req.fd, req.flags != 0 ? POLLOUT : POLLIN | POLLRDHUP);
        break;
      case completion_request::kind::recv_multishot:
        ::io_uring_prep_recv_multishot(sqe, req.fd, nullptr, 0, req.flags);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = io_uring_buffer_ring::group;
        break;
      case completion_request::kind::accept_multishot:
        ::io_uring_prep_multishot_accept(sqe, req.fd, nullptr, nullptr, req.flags);
        break;
      case completion_request::kind::cancel:
        ::io_uring_prep_cancel64(sqe, pack(completed, req.user_data), 0);
        ::io_uring_sqe_set_data64(sqe, pack(internal, 0));
        return {};
    }
    ::io_uring_sqe_set_data64(sqe, pack(completed, req.user_data));
    ++in_flight_;
    return {};
  }

  receive_buffer_pool receive_buffers() const noexcept override { return buffers_.pool(); }
  void release_buffer(std::uint16_t id) noexcept override { buffers_.release(id); }
  bool open_receive_buffers(std::uint16_t count) noexcept { return buffers_.open(ring_, count); }

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

  // Consumes CQEs until `capacity` distinct events (or the completion sink) are full.
  void reap(std::size_t capacity, completions* done) noexcept {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      const std::uint64_t data = ::io_uring_cqe_get_data64(cqe);
      const auto k = static_cast<source>(data & 3);
      if ((k == readiness || k == wakeup) && count_ == capacity) break;
      if (k == completed && (!done || done->full())) break;
      ++seen;
      if (k != internal && (cqe->flags & IORING_CQE_F_MORE) == 0) --in_flight_;
      if (k == completed) {
        completion c{data >> 2, cqe->res};
        if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
          c.buffer = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        }
        c.more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        done->push(c);
      } else if (k == wakeup) {
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

  // The destructor's reap: only the in-flight count matters now.
  void discard_completions() noexcept {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const auto k = static_cast<source>(::io_uring_cqe_get_data64(cqe) & 3);
      if (k != internal && (cqe->flags & IORING_CQE_F_MORE) == 0) --in_flight_;
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
  io_uring_buffer_ring buffers_;  // unmapped after the destructor has closed the ring
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

namespace {
// Completions of a socket operation are finished as task work on the submitting thread. By
// default the kernel interrupts that thread for it (an IPI and a signal-like detour per
// wake-up, which made io_uring cost 25% more CPU per echoed message than epoll).
// COOP_TASKRUN runs it at the thread's next kernel entry instead; DEFER_TASKRUN (6.1) runs it
// only inside io_uring_enter(GETEVENTS), batched with the turn's one system call, but then
// only the thread that made the ring may wait on it, so only an executor's ring asks for it.
// Older kernels reject the flags with EINVAL: try the next set. CORIO_IO_URING_TASKRUN=coop
// or =plain starts further down the list, so those kernels' modes are tested on new ones too.
int init_ring(io_uring& ring, io_uring_params& params, backend_threads threads) noexcept {
  constexpr unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  constexpr unsigned deferred = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                                IORING_SETUP_TASKRUN_FLAG;
  constexpr unsigned cooperative = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const unsigned owner_only[] = {base | deferred, base | cooperative, base};
  const unsigned any[] = {base | cooperative, base};
  std::span<const unsigned> choices = threads == backend_threads::owner_only
                                         ? std::span<const unsigned>(owner_only)
                                         : std::span<const unsigned>(any);
  if (const char* forced = std::getenv("CORIO_IO_URING_TASKRUN")) {
    const std::string_view mode(forced);
    const unsigned wanted = mode == "coop" ? base | cooperative : mode == "plain" ? base : 0;
    while (wanted != 0 && choices.size() > 1 && choices.front() != wanted) {
      choices = choices.subspan(1);
    }
  }
  int r = -EINVAL;
  for (const unsigned flags : choices) {
    params = io_uring_params{};
    params.flags = flags;
    params.cq_entries = cq_entries;
    r = ::io_uring_queue_init_params(sq_entries, &ring, &params);
    if (r != -EINVAL) break;
  }
  if (r >= 0) ring_mapped();
  return r;
}
}  // namespace

result<std::unique_ptr<backend>> make_io_uring_backend(backend_threads threads) {
  io_uring ring{};
  io_uring_params params{};
  const int r = init_ring(ring, params, threads);
  // EPERM: disabled by /proc/sys/kernel/io_uring_disabled or seccomp; ENOSYS: not in the kernel.
  if (r < 0) return os_error(r);
  // Multishot poll arrived in 5.13 with RSRC_TAGS; EXT_ARG gives a timed wait in one syscall.
  constexpr unsigned needed = IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS | IORING_FEAT_NODROP;
  if ((params.features & needed) != needed) {
    ring_unmapping();
    ::io_uring_queue_exit(&ring);
    return error::backend_unavailable;
  }
  try {
    auto made = std::make_unique<io_uring_backend>(ring);
    // Only an executor receives through buffers; a ring that refuses them receives directly.
    if (threads == backend_threads::owner_only) {
      (void)made->open_receive_buffers(io_uring_buffer_ring::configured_count());
    }
    return std::unique_ptr<backend>(std::move(made));
  } catch (...) {
    ring_unmapping();
    ::io_uring_queue_exit(&ring);
    throw;
  }
}

}  // namespace corio::detail
