// The contract every reactor backend implements (epoll.cpp, io_uring.cpp, kqueue.cpp). It is
// deliberately small: register/modify/remove readiness, wait for events, and one waker. Meson
// picks which backend files compile; make_backend.cpp is the one place that chooses at run time.
//
// Contract:
// - Readiness is edge-triggered (EPOLLET, EV_CLEAR, re-armed multishot poll).
// - wait() clears `out` first, fills at most out.capacity() events, returns early on a wake,
//   and treats EINTR as "no events". A timeout is rounded up, never down.
// - The waker's own readiness is consumed inside the backend: wait() reports it as one event
//   with the waker's token and leaves nothing for the caller to drain.
// - Completion kernels (io_uring) also run whole operations: submit() queues one (no system
//   call: wait() hands the batch to the kernel), and wait() reports its completion. The kernel
//   owns the request's buffers until that completion, even after a cancel request; the
//   operation's owner may release them only once it was reaped. Readiness-only backends say
//   supports_completions() == false and never report completions.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <corio/error.hpp>
#include <corio/reactor.hpp>

namespace corio::detail {

class wake_handle {
 public:
  virtual ~wake_handle() = default;
  // Safe from any thread. Wakes coalesce.
  virtual result<void> wake() noexcept = 0;
};

// One operation for a completion kernel. user_data comes back in its completion; its low two
// bits must be zero (a pointer to the waiting operation is).
struct completion_request {
  enum class kind : std::uint8_t { recv, send, recvmsg, sendmsg, accept, connect, poll, cancel };
  kind op = kind::recv;
  int fd = -1;
  void* data = nullptr;  // buffer; msghdr (recvmsg/sendmsg); sockaddr (accept/connect)
  std::size_t size = 0;  // buffer length; sockaddr length (connect)
  socklen_t* addr_len = nullptr;  // accept
  int flags = 0;  // MSG_* (recv/send/...); SOCK_* (accept); poll: 0 readable, 1 writable
  std::uint64_t user_data = 0;    // cancel: the user_data of the operation to cancel
};

// The result of a completed operation: bytes or a new fd, or a negative errno.
struct completion {
  std::uint64_t user_data = 0;
  std::int32_t result = 0;
};

// A reusable, fixed-capacity buffer of completions filled by wait(), like corio::events.
class completions {
 public:
  explicit completions(std::size_t capacity = 1024) : buffer_(capacity == 0 ? 1 : capacity) {}
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == buffer_.size(); }
  std::size_t size() const noexcept { return size_; }
  const completion* begin() const noexcept { return buffer_.data(); }
  const completion* end() const noexcept { return buffer_.data() + size_; }
  void clear() noexcept { size_ = 0; }
  void push(completion c) noexcept { buffer_[size_++] = c; }  // callers check full() first

 private:
  std::vector<completion> buffer_;
  std::size_t size_ = 0;
};

class backend {
 public:
  virtual ~backend() = default;
  virtual backend_kind kind() const noexcept = 0;

  virtual result<void> add(int fd, token t, interest i) = 0;
  virtual result<void> modify(int fd, token t, interest i) = 0;
  virtual result<void> remove(int fd) = 0;

  // `done` may be null (the public poll): completions then stay queued in the kernel's ring.
  virtual result<void> wait(events& out, completions* done,
                            std::optional<std::chrono::nanoseconds> timeout) = 0;

  virtual bool supports_completions() const noexcept { return false; }
  virtual result<void> submit(const completion_request&) { return error::backend_unavailable; }

  // At most one per backend; a second call fails with already_registered.
  virtual result<std::shared_ptr<wake_handle>> make_waker(token t) = 0;
};

// One factory per built backend file; make_backend chooses among them.
result<std::unique_ptr<backend>> make_epoll_backend();
result<std::unique_ptr<backend>> make_io_uring_backend();
result<std::unique_ptr<backend>> make_backend(backend_kind kind);

}  // namespace corio::detail
