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

// One operation for a completion kernel. user_data comes back in its completion; its top two
// bits must be zero (a user-space pointer's are).
// recv_multishot receives into the backend's receive buffers (see receive_buffers()) until it
// ends, a completion per filled buffer; accept_multishot completes once per connection;
// cancel names an operation by its user_data.
struct completion_request {
  enum class kind : std::uint8_t {
    recv, send, recvmsg, sendmsg, accept, connect, poll, cancel, recv_multishot,
    accept_multishot
  };
  kind op = kind::recv;
  int fd = -1;
  void* data = nullptr;  // buffer; msghdr (recvmsg/sendmsg); sockaddr (accept/connect)
  std::size_t size = 0;  // buffer length; sockaddr length (connect)
  socklen_t* addr_len = nullptr;  // accept
  int flags = 0;  // MSG_* (recv/send/...); SOCK_* (accept); poll: 0 readable, 1 writable
  std::uint64_t user_data = 0;    // cancel: the user_data of the operation to cancel
};

// The result of a completed operation: bytes or a new fd, or a negative errno. A multishot
// operation completes many times; `more` says whether this was not its last completion.
struct completion {
  static constexpr std::uint16_t no_buffer = 0xFFFF;
  std::uint64_t user_data = 0;
  std::int32_t result = 0;
  std::uint16_t buffer = no_buffer;  // the receive buffer it filled (its owner must release it)
  bool more = false;
};

// Memory the kernel receives into on its own (io_uring's provided buffers): `count` buffers of
// `size` bytes, buffer k at base + k * size. Empty where the backend has none.
struct receive_buffer_pool {
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::uint16_t count = 0;
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
  // The buffers recv_multishot fills; a filled buffer belongs to its completion's owner until
  // release_buffer hands it back to the kernel.
  virtual receive_buffer_pool receive_buffers() const noexcept { return {}; }
  virtual void release_buffer(std::uint16_t) noexcept {}

  // At most one per backend; a second call fails with already_registered.
  virtual result<std::shared_ptr<wake_handle>> make_waker(token t) = 0;
};

// Who may call a backend. An executor's backend is made, driven and destroyed on its own
// thread, which lets io_uring defer completion work to that thread's waits; a public poll may
// be handed between threads (never used by two at once).
enum class backend_threads : std::uint8_t { any, owner_only };

// One factory per built backend file; make_backend chooses among them.
result<std::unique_ptr<backend>> make_epoll_backend();
result<std::unique_ptr<backend>> make_io_uring_backend(backend_threads threads);
result<std::unique_ptr<backend>> make_backend(backend_kind kind,
                                              backend_threads threads = backend_threads::any);

}  // namespace corio::detail
