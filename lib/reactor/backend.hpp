// The readiness contract every reactor backend implements (epoll.cpp, io_uring.cpp's multishot
// poll, a future kqueue.cpp). It has mio's size: register/reregister/deregister (add, modify,
// remove), wait for events, and one waker. Meson picks which backend files compile;
// make_backend.cpp is the one place that chooses at run time.
//
// Whole operations on a completion kernel (io_uring's recv, send, accept, ...) are not part of
// this contract: lib/completion/engine.hpp owns them.
//
// Contract:
// - Readiness is edge-triggered (EPOLLET, EV_CLEAR, re-armed multishot poll).
// - wait() clears `out` first, fills at most out.capacity() events, returns early on a wake,
//   and treats EINTR as "no events". A timeout is rounded up, never down.
// - The waker's own readiness is consumed inside the backend: wait() reports it as one event
//   with the waker's token and leaves nothing for the caller to drain.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <corio/error.hpp>
#include <corio/reactor.hpp>

namespace corio::detail {

class wake_handle {
 public:
  virtual ~wake_handle() = default;
  // Safe from any thread. Wakes coalesce.
  virtual result<void> wake() noexcept = 0;
};

class backend {
 public:
  virtual ~backend() = default;
  virtual backend_kind kind() const noexcept = 0;

  virtual result<void> add(int fd, token t, interest i) = 0;
  virtual result<void> modify(int fd, token t, interest i) = 0;
  virtual result<void> remove(int fd) = 0;

  virtual result<void> wait(events& out, std::optional<std::chrono::nanoseconds> timeout) = 0;

  // At most one per backend; a second call fails with already_registered.
  virtual result<std::shared_ptr<wake_handle>> make_waker(token t) = 0;

 protected:
  // For a wait that knows it makes at most out.capacity() events (one per kernel event): it
  // writes them in place and sets the count once, instead of a bounds test and a size update
  // per event (push). Everything before the count is overwritten.
  static event* room(events& out) noexcept { return out.buffer_.data(); }
  static void filled(events& out, std::size_t n) noexcept { out.size_ = n; }
};

// One factory per built backend file; make_backend chooses among them.
result<std::unique_ptr<backend>> make_epoll_backend();
result<std::unique_ptr<backend>> make_io_uring_backend();
result<std::unique_ptr<backend>> make_backend(backend_kind kind);

}  // namespace corio::detail
