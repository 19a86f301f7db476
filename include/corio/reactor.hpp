// The readiness reactor: corio's lowest public layer, in the spirit of Rust's mio.
//
//   auto p = corio::poll::create().value();
//   p.registry().add(fd, corio::token{7}, corio::interest::readable);
//   corio::events evs(256);
//   p.wait(evs, std::chrono::milliseconds(100));
//   for (const corio::event& e : evs) { ... e.token() ... }
//
// Sharp edges, read these before using it:
// - Edge-triggered. An event says "the readiness of this fd changed", not "it is ready now".
//   After a readable event, read until the call fails with would-block (EAGAIN); after a writable
//   event, write until it would block. Stop early and no further event comes for the data left.
// - Spurious events. An event may arrive when the operation would still block (another thread
//   drained the fd, or the backend reports a coarse condition). Treat an event as a hint.
// - Closing an fd. Remove it from the registry before closing it. The kernel forgets a closed fd
//   only when every duplicate of it is closed, and events already collected into `events` for
//   it are still there: a token can outlive its fd. Layers above (the event loop, the executor)
//   give tokens a generation so such stale events are dropped.
// - One waker per poll. A waker's wake() is safe from any thread and from signal handlers'
//   threads; wakes coalesce (many wakes, at least one event).
// - Threads. poll::wait and the registry belong to one thread at a time; only waker::wake is
//   meant for other threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <corio/error.hpp>

namespace corio {

// A user-chosen value that comes back with every event of a registration. One value is
// reserved for the backend's own use: token{~0} (all bits set); registering it fails with
// invalid_token. A waker may use any value.
enum class token : std::uint64_t {};

// What a registration waits for. There is no empty interest: every value names at least one.
class interest {
 public:
  static const interest readable;
  static const interest writable;

  constexpr interest operator|(interest other) const noexcept {
    return interest(static_cast<std::uint8_t>(bits_ | other.bits_));
  }
  constexpr bool is_readable() const noexcept { return (bits_ & 1u) != 0; }
  constexpr bool is_writable() const noexcept { return (bits_ & 2u) != 0; }
  constexpr bool operator==(const interest&) const noexcept = default;

 private:
  constexpr explicit interest(std::uint8_t bits) noexcept : bits_(bits) {}
  std::uint8_t bits_;
};
inline constexpr interest interest::readable{1};
inline constexpr interest interest::writable{2};

// One readiness event. Flags are a union of what the backend reported.
class event {
 public:
  enum flag : std::uint8_t {
    readable = 1,
    writable = 2,
    error = 4,         // EPOLLERR and friends: read the socket's error (take_error)
    read_closed = 8,   // the peer shut its write side, or hung up
    write_closed = 16, // our write side can no longer send (hang-up)
    priority = 32,     // out-of-band / priority data
  };

  constexpr event() noexcept = default;
  constexpr event(corio::token t, std::uint8_t flags) noexcept : token_(t), flags_(flags) {}

  constexpr corio::token token() const noexcept { return token_; }
  constexpr std::uint8_t flags() const noexcept { return flags_; }
  constexpr bool is_readable() const noexcept { return (flags_ & readable) != 0; }
  constexpr bool is_writable() const noexcept { return (flags_ & writable) != 0; }
  constexpr bool is_error() const noexcept { return (flags_ & error) != 0; }
  constexpr bool is_read_closed() const noexcept { return (flags_ & read_closed) != 0; }
  constexpr bool is_write_closed() const noexcept { return (flags_ & write_closed) != 0; }
  constexpr bool is_priority() const noexcept { return (flags_ & priority) != 0; }

 private:
  corio::token token_{};
  std::uint8_t flags_ = 0;
};

namespace detail {
class backend;
}  // namespace detail

// A reusable buffer of events, filled by poll::wait. Its capacity bounds one wait's batch and
// never grows, so waiting does not allocate.
class events {
 public:
  explicit events(std::size_t capacity = 1024) : buffer_(capacity == 0 ? 1 : capacity) {}

  std::size_t capacity() const noexcept { return buffer_.size(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == buffer_.size(); }
  const event* begin() const noexcept { return buffer_.data(); }
  const event* end() const noexcept { return buffer_.data() + size_; }
  const event& operator[](std::size_t i) const noexcept { return buffer_[i]; }

  void clear() noexcept { size_ = 0; }
  // Backends append here; returns false (and drops nothing already stored) when full.
  bool push(event e) noexcept {
    if (size_ == buffer_.size()) return false;
    buffer_[size_++] = e;
    return true;
  }

 private:
  friend class detail::backend;  // fills the buffer in place (backend.hpp)
  std::vector<event> buffer_;
  std::size_t size_ = 0;
};

enum class backend_kind : std::uint8_t { automatic, epoll, io_uring, kqueue };

std::string_view to_string(backend_kind kind) noexcept;
// "epoll", "io_uring", "kqueue", "auto"/"automatic"; anything else is invalid_argument.
result<backend_kind> parse_backend_kind(std::string_view name) noexcept;
// The CORIO_BACKEND environment variable, or automatic when unset or empty.
result<backend_kind> backend_kind_from_env() noexcept;
// The backends compiled into this build, in order of preference.
std::span<const backend_kind> built_backends() noexcept;

namespace detail {
class backend;
class wake_handle;
}  // namespace detail

// Adds, changes and removes fd registrations of one poll.
class registry {
 public:
  // Errors: already_registered (the fd is registered), EBADF (not an open fd), EPERM (a regular
  // file, which has no readiness), not_registered (modify/remove of an fd never added),
  // invalid_token (the reserved token{~0}).
  result<void> add(int fd, token t, interest i);
  result<void> modify(int fd, token t, interest i);
  result<void> remove(int fd);

 private:
  friend class poll;
  explicit registry(detail::backend* b) noexcept : backend_(b) {}
  detail::backend* backend_;
};

class poll {
 public:
  // automatic picks the first backend in built_backends() that the kernel allows; naming a
  // backend that is not built or that the kernel refuses fails with backend_unavailable (or
  // the OS error).
  static result<poll> create(backend_kind kind = backend_kind::automatic);

  poll(poll&&) noexcept;
  poll& operator=(poll&&) noexcept;
  ~poll();

  corio::registry& registry() noexcept { return registry_; }
  backend_kind kind() const noexcept;

  // Clears `out`, then blocks until at least one event, the timeout, or a wake. nullopt waits
  // forever; a timeout is rounded up to the backend's resolution, never down. A signal does not
  // end the wait early (EINTR waits again for the time left, as libuv does): a handler that
  // must end it wakes the loop (corio::signal and the waker do).
  result<void> wait(events& out, std::optional<std::chrono::nanoseconds> timeout);

 private:
  friend class waker;
  explicit poll(std::unique_ptr<detail::backend> b) noexcept;
  std::unique_ptr<detail::backend> backend_;
  corio::registry registry_;
};

// Wakes a blocked poll::wait from any thread: the wait returns an event with the waker's token.
// Copyable; copies wake the same poll. Only one waker may be created per poll. A waker may
// outlive its poll: wake() then does nothing harmful.
class waker {
 public:
  static result<waker> create(poll& p, token t);
  result<void> wake() const noexcept;

 private:
  explicit waker(std::shared_ptr<detail::wake_handle> h) noexcept : handle_(std::move(h)) {}
  std::shared_ptr<detail::wake_handle> handle_;
};

}  // namespace corio
