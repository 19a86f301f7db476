// The io_uring completion engine (Linux >= 5.13; buffered receive from 5.19/6.0, falling back
// to plain requests before). See engine.hpp for the contract.
//
// - user_data = pointer | tag (two low bits). Tag 0: an operation's io_callback, called with
//   the CQE's result. Tags 1 and 2: a socket's multishot receive or accept; the socket_input's
//   generation rides in the top byte, so a late completion for a socket that closed (and a
//   slot reused since) misses. Tag 3: the engine's own (cancels, the waker's poll).
// - Requests are only queued; wait() hands them to the kernel in the io_uring_enter that
//   waits, so a loop turn costs one system call (none when there is neither anything to submit
//   nor a reason to block), more while the kernel keeps bringing completions (bounded).
// - One reaping loop (reap_some()) serves wait() and wait_until(); it never enters the kernel
//   (wait() decides when to).
//   It takes one CQE at a time, so a callback may start requests, and a frame that is going
//   away may wait for its request (wait_until) from anywhere. The destructor only counts.
// - A stream socket receives ahead: one multishot receive per socket fills the provided-buffer
//   ring, each filled buffer is queued on the socket until a read copies it out and hands it
//   straight back. A read that finds bytes queued is answered at once; one that finds none
//   waits as the socket's waiter and is answered from the completion that brings bytes (one
//   hop: CQE, copy into the reader's buffer, its callback).
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "completion/engine.hpp"
#include "completion/io_uring_buffer_ring.hpp"
#include "reactor/eventfd_waker.hpp"
#include "reactor/io_uring_setup.hpp"

namespace corio::detail {
namespace {

constexpr std::uint64_t operation_tag = 0;
constexpr std::uint64_t receive_tag = 1;
constexpr std::uint64_t accept_tag = 2;
constexpr std::uint64_t engine_tag = 3;
constexpr std::uint64_t tag_mask = 3;
constexpr int generation_shift = 56;
constexpr std::uint64_t pointer_mask = (std::uint64_t{1} << generation_shift) - 1 - tag_mask;
constexpr std::uint64_t cancel_data = engine_tag;               // a cancel's own completion
constexpr std::uint64_t waker_data = (std::uint64_t{1} << 2) | engine_tag;

std::uint64_t data_of(const io_callback& cb) noexcept {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&cb)) | operation_tag;
}

std::uint64_t input_data(const socket_input& in, std::uint64_t tag) noexcept {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&in)) |
         std::uint64_t{in.generation} << generation_shift | tag;
}

class io_uring_engine final : public completion_engine {
 public:
  // reap() and next_sqe() index the rings with 16-byte CQEs and 64-byte SQEs.
  explicit io_uring_engine(const io_uring& ring) : ring_(ring) {
    assert((ring.flags & (IORING_SETUP_CQE32 | IORING_SETUP_SQE128 | IORING_SETUP_SQPOLL)) == 0);
  }
  io_uring_engine(const io_uring_engine&) = delete;
  io_uring_engine& operator=(const io_uring_engine&) = delete;

  // Every request must have ended before the ring closes: the ring's teardown otherwise
  // cancels what is left from a kernel worker, whose completions come back to this thread as
  // task work and interrupt its next blocking wait (and polls keep their files open until
  // then). So cancel everything and reap until nothing is in flight (bounded).
  ~io_uring_engine() override {
    if (io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_)) {
      ::io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      ::io_uring_sqe_set_data64(sqe, cancel_data);
      ++in_flight_;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      (void)::io_uring_submit(&ring_);
      while (in_flight_ > 0 && std::chrono::steady_clock::now() < give_up) {
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec ts{0, 10'000'000};
        (void)::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        discard_completions();
      }
    }
    exit_ring(ring_);
  }

  void open_buffers() {
    if (ring_buffers_.open(ring_, io_uring_buffer_ring::configured_count())) {
      buffers_.attach(ring_buffers_);
    }
  }

  backend_kind kind() const noexcept override { return backend_kind::io_uring; }

  void open(socket_input& in, int fd) noexcept override {
    in.fd = fd;
    in.received = receive_queue{};
    in.waiter = nullptr;
  }

  void close(socket_input& in) noexcept override {
    in.waiter = nullptr;
    if (in.received.armed) cancel_input(in, receive_tag);
    if (in.accepted.armed) cancel_input(in, accept_tag);
    buffers_.release_all(in.received);
    in.accepted.close_all();
    in.fd = -1;
    ++in.generation;
    // The socket's fd is closed right after this. A request still in the submission queue
    // names it by number: submitted later, it would fail with EBADF, or reach whatever socket
    // reuses the number. Submitted now, the kernel holds the file, and the cancels queued
    // with it end the requests (operation_aborted). The run loop does not submit every turn
    // while work is queued, so the queue may hold several turns' requests.
    if (::io_uring_sq_ready(&ring_) > 0) (void)::io_uring_submit(&ring_);
  }

  void hand_over(socket_input& in) noexcept override {
    if (!in.received.armed) return;
    cancel_input(in, receive_tag);
    // Bounded; if the kernel never answers, the cancel still reaches it with the next wait.
    (void)wait_until([](const void* p) { return !static_cast<const socket_input*>(p)->received.armed; },
                     &in);
  }

  // A send (the request a busy connection makes most) queues its SQE here, with no call at
  // all; every other kind goes through start_other, so the registers they need are saved only
  // on their way.
  result<std::optional<std::int32_t>> start(socket_input& in, const io_request& req,
                                            io_callback& cb) noexcept override {
    if (req.op == io_request::kind::send) [[likely]] {
      io_uring_sqe* sqe = next_sqe();
      if (sqe == nullptr) [[unlikely]] {
        return std::make_error_code(std::errc::resource_unavailable_try_again);
      }
      // A peer that went away is EPIPE, never SIGPIPE.
      ::io_uring_prep_send(sqe, req.fd, req.data, req.size, MSG_NOSIGNAL);
      ::io_uring_sqe_set_data64(sqe, data_of(cb));
      ++in_flight_;
      return std::optional<std::int32_t>();
    }
    return start_other(in, req, cb);
  }

  // The bytes queued on the socket (as many as fit: a read of 0 bytes is answered 0), or how
  // its stream ended; nothing while another operation waits on the socket's input.
  std::optional<std::int32_t> take_received(socket_input& in, void* data,
                                            std::size_t size) noexcept override {
    if (in.waiter != nullptr) return std::nullopt;
    return answer_bytes(in, data, size);
  }

  [[gnu::noinline]] result<std::optional<std::int32_t>> start_other(
      socket_input& in, const io_request& req, io_callback& cb) noexcept {
    if (req.op == io_request::kind::recv && req.stream && buffers_.available()) {
      return start_stream_read(in, req, cb);
    }
    if (req.op == io_request::kind::accept && multishot_accept_) return start_accept(in, req, cb);
    if (auto r = submit(req, cb); !r) return r.error();
    return std::optional<std::int32_t>();
  }

  result<std::optional<std::int32_t>> start_stream_read(
      socket_input& in, const io_request& req, io_callback& cb) noexcept {
    if (auto now = answer_bytes(in, req)) return now;
    if (in.received.armed) return park(in, req, cb);
    if (!in.received.dry && arm_input(in, receive_tag)) return park(in, req, cb);
    in.received.dry = false;  // this one receives directly; the next tries buffers again
    if (auto r = submit(req, cb); !r) return r.error();
    return std::optional<std::int32_t>();
  }

  [[gnu::noinline]] result<std::optional<std::int32_t>> start_accept(
      socket_input& in, const io_request& req, io_callback& cb) noexcept {
    if (auto now = answer_accept(in, req)) return now;
    if (in.accepted.armed || arm_input(in, accept_tag)) return park(in, req, cb);
    if (auto r = submit(req, cb); !r) return r.error();
    return std::optional<std::int32_t>();
  }

  result<void> start_poll(int fd, bool writable, io_callback& cb) noexcept override {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    ::io_uring_prep_poll_add(sqe, fd, writable ? POLLOUT : POLLIN | POLLRDHUP);
    ::io_uring_sqe_set_data64(sqe, data_of(cb));
    ++in_flight_;
    return {};
  }

  bool cancel(socket_input& in, io_callback& cb) noexcept override {
    if (in.waiter == &cb) {
      in.waiter = nullptr;
      return true;
    }
    if (io_uring_sqe* sqe = next_sqe()) {
      ::io_uring_prep_cancel64(sqe, data_of(cb), 0);
      ::io_uring_sqe_set_data64(sqe, cancel_data);
      ++in_flight_;
    }
    return false;
  }

  result<void> wait(std::optional<std::chrono::nanoseconds> timeout) override {
    const bool non_blocking = timeout && timeout->count() <= 0;
    // Read the clock only for a wait that has a deadline.
    const auto deadline = timeout && !non_blocking ? std::chrono::steady_clock::now() + *timeout
                                                   : std::chrono::steady_clock::time_point{};
    bool any = reap_cq();  // a ring without DEFER_TASKRUN posts completions at any time
    while (!any && !non_blocking) {
      io_uring_cqe* cqe = nullptr;
      int r = 0;
      if (wait_in_poll_) {
        const auto waited = wait_in_poll(timeout, deadline);
        if (!waited) return waited.error();
        if (!*waited) return {};  // the time is up
      } else if (!timeout) {
        r = ::io_uring_submit_and_wait(&ring_, 1);
      } else {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left.count() <= 0) return {};
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        __kernel_timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
        r = ::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      }
      // EINTR (a signal handler ran) waits again for the time left, like epoll.cpp.
      if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) return os_error(r);
      // Only the engine's own completions (or none: a timeout, a signal) means wait again.
      any = reap_cq();
    }
    // Without blocking, hand the queued requests over (the turn's sends) and take what the
    // kernel holds back as task work, in one system call (none when there is neither). While
    // that brings completions and the kernel holds more (peers answer while a batch is
    // reaped), call again, so that the next turn's reads find their bytes received ahead
    // instead of waiting (bounded: a peer that never stops cannot hold the turn).
    for (int calls = 0; calls < max_calls_after_wait &&
                        (::io_uring_sq_ready(&ring_) > 0 || work_pending());
         ++calls) {
      const int r = ::io_uring_submit_and_get_events(&ring_);
      if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) return os_error(r);
      if (!reap_cq()) break;
    }
    return {};
  }

  bool wait_until(bool (*done)(const void*), const void* arg) noexcept override {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done(arg)) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{0, 10'000'000};
      (void)::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      (void)reap_cq();
    }
    return true;
  }

  result<std::shared_ptr<wake_handle>> make_waker() override {
    if (waker_) return error::already_registered;
    auto w = std::make_shared<eventfd_waker>();
    if (auto opened = w->open(); !opened) return opened.error();
    waker_ = w;
    if (auto armed = arm_waker(); !armed) {
      waker_.reset();
      return armed.error();
    }
    return std::shared_ptr<wake_handle>(std::move(w));
  }

  std::size_t buffers_held() const noexcept override { return buffers_.held(); }

  // MEASUREMENT SEAM, not a mode to run in: CORIO_IO_URING_WAIT=poll, with
  // CORIO_IO_URING_TASKRUN=coop or =plain (bench/count_instructions.py). valgrind 3.19 knows
  // io_uring_enter but runs it as a system call that never blocks, holding its one big lock:
  // while a worker sleeps in io_uring_enter(GETEVENTS) no other thread of the process runs (not
  // even the main thread that hands the worker its first task) and no signal is taken. With the
  // seam the engine sleeps in poll(2) on the ring's fd instead (valgrind lets go of its lock
  // there) and takes the completions with a non-blocking io_uring_enter: each blocking wait
  // costs a poll and an io_uring_enter more. A DEFER_TASKRUN ring's fd never turns readable
  // (its completions wait as task work that only io_uring_enter runs), so such a ring ignores
  // the seam.
  void wait_in_poll_if_asked() noexcept {
    const char* how = std::getenv("CORIO_IO_URING_WAIT");  // NOLINT(concurrency-mt-unsafe)
    wait_in_poll_ = how != nullptr && std::string_view(how) == "poll" &&
                    (ring_.flags & IORING_SETUP_DEFER_TASKRUN) == 0;
  }

 private:
  // The seam's wait (see wait_in_poll_if_asked): submits what is queued without blocking and,
  // when that brought nothing, sleeps in poll on the ring's fd. False when the time is up.
  result<bool> wait_in_poll(std::optional<std::chrono::nanoseconds> timeout,
                            std::chrono::steady_clock::time_point deadline) noexcept {
    const int r = ::io_uring_submit_and_get_events(&ring_);
    if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) return os_error(r);
    if (::io_uring_cq_ready(&ring_) > 0 || work_pending()) return true;
    int ms = -1;
    if (timeout) {
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left.count() <= 0) return false;
      ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    }
    pollfd p{ring_.ring_fd, POLLIN, 0};
    if (::poll(&p, 1, ms) < 0 && errno != EINTR) return std::error_code(errno, std::system_category());
    return true;
  }

  // Completions the kernel holds back as task work until this thread enters it (COOP_TASKRUN,
  // DEFER_TASKRUN): TASKRUN_FLAG raises this bit so a turn that does not block can tell.
  bool work_pending() const noexcept {
    return (IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
  }

  // An SQE, submitting the queue first when it is full. liburing's get_sqe, without its
  // per-call tests of SQE128 and SQPOLL, which init_ring never asks for.
  io_uring_sqe* next_sqe() noexcept {
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (tail - IO_URING_READ_ONCE(*sq.khead) < sq.ring_entries) [[likely]] {
      sq.sqe_tail = tail + 1;
      return &sq.sqes[tail & sq.ring_mask];
    }
    return sqe_after_submit();
  }

  [[gnu::cold, gnu::noinline]] io_uring_sqe* sqe_after_submit() noexcept {
    (void)::io_uring_submit(&ring_);
    return ::io_uring_get_sqe(&ring_);
  }

  result<void> submit(const io_request& req, io_callback& cb) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    switch (req.op) {
      case io_request::kind::recv:
        ::io_uring_prep_recv(sqe, req.fd, req.data, req.size, 0);
        break;
      case io_request::kind::send:  // a peer that went away is EPIPE, never SIGPIPE
        ::io_uring_prep_send(sqe, req.fd, req.data, req.size, MSG_NOSIGNAL);
        break;
      case io_request::kind::recvmsg:
        ::io_uring_prep_recvmsg(sqe, req.fd, static_cast<msghdr*>(req.data), 0);
        break;
      case io_request::kind::sendmsg:
        ::io_uring_prep_sendmsg(sqe, req.fd, static_cast<const msghdr*>(req.data), MSG_NOSIGNAL);
        break;
      case io_request::kind::accept:
        ::io_uring_prep_accept(sqe, req.fd, static_cast<sockaddr*>(req.data),
                               reinterpret_cast<socklen_t*>(req.addr_len),
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
      case io_request::kind::connect:
        ::io_uring_prep_connect(sqe, req.fd, static_cast<const sockaddr*>(req.data),
                                static_cast<socklen_t>(req.size));
        break;
    }
    ::io_uring_sqe_set_data64(sqe, data_of(cb));
    ++in_flight_;
    return {};
  }

  std::optional<std::int32_t> park(socket_input& in, const io_request& req, io_callback& cb) noexcept {
    in.waiter = &cb;
    in.wanted = req;
    return std::nullopt;
  }

  // Bytes queued on the socket (as many as fit), or how the stream ended once none are left
  // (reported to one read; a later read asks the kernel again).
  // The bytes queued on the socket (as many as fit), 0 for a read of 0 bytes, how its stream
  // ended once nothing is queued; nullopt when the read must wait. The empty queue is tested
  // first: it is the case of every read that goes on to wait.
  std::optional<std::int32_t> answer_bytes(socket_input& in, void* data,
                                           std::size_t size) noexcept {
    receive_queue& q = in.received;
    if (q.head != receive_queue::none) {  // then the head buffer holds a byte at least
      return static_cast<std::int32_t>(
          buffers_.copy_to(q, std::span<std::byte>(static_cast<std::byte*>(data), size)));
    }
    if (size == 0) return 0;
    if (q.end == receive_queue::open) return std::nullopt;
    return std::exchange(q.end, receive_queue::open);
  }
  std::optional<std::int32_t> answer_bytes(socket_input& in, const io_request& req) noexcept {
    return answer_bytes(in, req.data, req.size);
  }

  // A connection the multishot accept queued, with its peer's address asked for (the request's
  // one address buffer would have been shared by every connection), or the error before it.
  std::optional<std::int32_t> answer_accept(socket_input& in, const io_request& req) noexcept {
    const std::optional<std::int32_t> fd = in.accepted.take();
    if (!fd || *fd < 0) return fd;
    if (req.addr_len != nullptr) {
      auto len = static_cast<socklen_t>(*req.addr_len);
      if (::getpeername(*fd, static_cast<sockaddr*>(req.data), &len) != 0) len = 0;
      *req.addr_len = len;  // 0: the peer already went away
    }
    return fd;
  }

  bool arm_input(socket_input& in, std::uint64_t tag) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return false;
    if (tag == receive_tag) {
      ::io_uring_prep_recv_multishot(sqe, in.fd, nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = io_uring_buffer_ring::group;
      in.received.armed = true;
    } else {
      ::io_uring_prep_multishot_accept(sqe, in.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      in.accepted.armed = true;
    }
    ::io_uring_sqe_set_data64(sqe, input_data(in, tag));
    ++in_flight_;
    return true;
  }

  void cancel_input(socket_input& in, std::uint64_t tag) noexcept {
    bool& cancelling = tag == receive_tag ? in.received.cancelling : in.accepted.cancelling;
    if (cancelling) return;
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return;
    ::io_uring_prep_cancel64(sqe, input_data(in, tag), 0);
    ::io_uring_sqe_set_data64(sqe, cancel_data);
    ++in_flight_;
    cancelling = true;
  }

  result<void> arm_waker() noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
    ::io_uring_prep_poll_multishot(sqe, waker_->fd(), POLLIN);
    ::io_uring_sqe_set_data64(sqe, waker_data);
    ++in_flight_;
    return {};
  }

  // Takes every completion the kernel has posted, one at a time (a callback may reap further
  // down: wait_until), with no system call; true when one of them was for an operation, an
  // input or the waker. It reads the CQ ring itself: liburing's peek also checks CQE32 and
  // looks for its own timeout CQEs (kernels without EXT_ARG) at every CQE. Completions the
  // kernel holds back as task work (DEFER_TASKRUN) are posted only by an io_uring_enter, which
  // is wait()'s to make.
  bool reap_cq() noexcept {
    if (*ring_.cq.khead == io_uring_smp_load_acquire(ring_.cq.ktail)) {
      return false;  // a turn that finds nothing pays no more (few connections: half the turns)
    }
    return reap_some();
  }

  [[gnu::noinline]] bool reap_some() noexcept {
    bool any = false;
    io_uring_cq& cq = ring_.cq;
    for (;;) {
      const unsigned head = *cq.khead;  // only this thread moves it
      if (head == io_uring_smp_load_acquire(cq.ktail)) return any;
      const io_uring_cqe& cqe = cq.cqes[head & cq.ring_mask];
      const std::uint64_t data = cqe.user_data;
      const std::int32_t res = cqe.res;
      const std::uint32_t flags = cqe.flags;
      io_uring_smp_store_release(cq.khead, head + 1);
      if ((flags & IORING_CQE_F_MORE) == 0) --in_flight_;
      if ((data & tag_mask) == operation_tag) [[likely]] {
        // A send's answer, most often: straight to the operation's callback.
        auto* cb = reinterpret_cast<io_callback*>(static_cast<std::uintptr_t>(data));
        cb->complete(*cb, res);
        any = true;
      } else {
        any |= on_completion(data, res, flags);
      }
    }
  }

  // The destructor's reaping: counts what ended, calls nothing (its owners are gone).
  void discard_completions() noexcept {
    io_uring_cq& cq = ring_.cq;
    for (;;) {
      const unsigned head = *cq.khead;
      if (head == io_uring_smp_load_acquire(cq.ktail)) return;
      if ((cq.cqes[head & cq.ring_mask].flags & IORING_CQE_F_MORE) == 0) --in_flight_;
      io_uring_smp_store_release(cq.khead, head + 1);
    }
  }

  // A socket's input (multishot receive or accept) or the engine's own; false when only the
  // engine's own (a cancel's answer), which does not end a wait.
  bool on_completion(std::uint64_t data, std::int32_t res, std::uint32_t flags) noexcept {
    const std::uint64_t tag = data & tag_mask;
    if (tag == engine_tag) {
      if (data != waker_data) return false;  // a cancel's answer
      if ((flags & IORING_CQE_F_MORE) == 0 && waker_) (void)arm_waker();
      if (waker_) (void)waker_->drain();  // the wake only ended the wait
      return true;
    }
    auto* in = reinterpret_cast<socket_input*>(static_cast<std::uintptr_t>(data & pointer_mask));
    const bool live = in->fd >= 0 && in->generation == data >> generation_shift;
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (tag == receive_tag) {
      if (live) {
        on_receive(*in, res, flags, more);
      } else if ((flags & IORING_CQE_F_BUFFER) != 0) {
        buffers_.release(static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
      }
    } else if (live) {
      on_accept(*in, res, more);
    } else if (res >= 0) {
      ::close(res);  // accepted for a listener that closed since
    }
    return true;
  }

  void on_receive(socket_input& in, std::int32_t res, std::uint32_t flags, bool more) noexcept {
    receive_queue& q = in.received;
    bool handed = false;  // the bytes went straight to the waiter
    if ((flags & IORING_CQE_F_BUFFER) != 0) {
      const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      if (res > 0 && q.head == receive_queue::none && in.waiter != nullptr &&
          in.wanted.op == io_request::kind::recv &&
          static_cast<std::size_t>(res) <= in.wanted.size) {
        // What serve_waiter would copy out of the queue, without queuing it first.
        buffers_.copy_out(id, static_cast<std::size_t>(res), static_cast<std::byte*>(in.wanted.data));
        handed = true;
      } else if (res > 0) {
        buffers_.append(q, id, static_cast<std::size_t>(res));
      } else {
        buffers_.release(id);
      }
    }
    if (!more) {  // this receive ended; why decides what the next read does
      q.armed = false;
      q.cancelling = false;
      if (res == 0) {
        q.end = 0;
      } else if (res == -ENOBUFS) {
        q.dry = true;
      } else if (res == -EINVAL && q.queued == 0) {
        buffers_.disable();  // a kernel without multishot receive (before 6.0)
      } else if (res < 0 && res != -ECANCELED) {
        q.end = res;
      }
    } else if (q.queued >= received_buffers::socket_cap) {
      cancel_input(in, receive_tag);  // a reader that lags: the rest waits in the socket
    }
    if (handed) {
      io_callback* cb = std::exchange(in.waiter, nullptr);
      cb->complete(*cb, res);
      return;
    }
    if (in.waiter != nullptr) serve_waiter(in);  // most bytes come while nobody waits
  }

  void on_accept(socket_input& in, std::int32_t res, bool more) noexcept {
    accept_queue& q = in.accepted;
    if (res >= 0) {
      try {
        q.push(res);
      } catch (...) {  // no memory for the queue: the connection is refused rather than leaked
        ::close(res);
      }
    } else if (res == -EINVAL && q.size() == 0 && !more) {
      multishot_accept_ = false;  // a kernel without multishot accept (before 5.19)
    } else if (res != -ECANCELED && q.error == 0) {
      q.error = res;
    }
    if (!more) {
      q.armed = false;
      q.cancelling = false;
    } else if (q.size() >= accept_queue::cap) {
      cancel_input(in, accept_tag);  // the rest waits in the backlog
    }
    serve_waiter(in);
  }

  // The socket's input changed: answer its waiter, or, when its multishot request ended with
  // nothing for it, start the waiter's request again (re-arm, or a plain request).
  void serve_waiter(socket_input& in) noexcept {
    if (in.waiter == nullptr) return;
    const bool accepting = in.wanted.op == io_request::kind::accept;
    std::optional<std::int32_t> now = accepting ? answer_accept(in, in.wanted)
                                                : answer_bytes(in, in.wanted);
    if (!now && (accepting ? in.accepted.armed : in.received.armed)) return;
    io_callback* cb = std::exchange(in.waiter, nullptr);
    if (!now) {
      auto started = start(in, in.wanted, *cb);
      if (started && !*started) return;
      now = started ? **started : -started.error().value();
    }
    cb->complete(*cb, *now);
  }

  io_uring ring_;
  io_uring_buffer_ring ring_buffers_;  // unmapped after the destructor has closed the ring
  received_buffers buffers_;
  bool multishot_accept_ = true;  // until a kernel refuses it (before 5.19)
  std::shared_ptr<eventfd_waker> waker_;
  std::size_t in_flight_ = 0;  // requests (cancels too) whose last completion is not reaped
  bool wait_in_poll_ = false;  // the measurement seam, see wait_in_poll_if_asked
  static constexpr int max_calls_after_wait = 16;
};

}  // namespace

result<std::unique_ptr<completion_engine>> make_io_uring_engine() {
  io_uring ring{};
  io_uring_params params{};
  // Only the executor's thread waits on its ring, so DEFER_TASKRUN where the kernel has it.
  const int r = init_ring(ring, params, ring_threads::owner_only);
  // EPERM: disabled by /proc/sys/kernel/io_uring_disabled or seccomp; ENOSYS: not in the kernel.
  if (r < 0) return os_error(r);
  if (!has_needed_features(params)) {
    exit_ring(ring);
    return error::backend_unavailable;
  }
  try {
    auto made = std::make_unique<io_uring_engine>(ring);
    made->open_buffers();  // a ring that refuses them receives directly
    made->wait_in_poll_if_asked();
    return std::unique_ptr<completion_engine>(std::move(made));
  } catch (...) {
    exit_ring(ring);
    throw;
  }
}

}  // namespace corio::detail
