// The epoll backend (Linux). Implements detail::backend; see backend.hpp for the contract.
//
// - Every registration is edge-triggered (EPOLLET) and asks for EPOLLRDHUP, so a peer's
//   shutdown is reported as read_closed without a read returning 0 first.
// - epoll_event.data carries the user's token unchanged. One value, reserved_token, is kept for
//   the waker's eventfd so wait() can tell the two apart; registering it fails with
//   invalid_token.
// - wait() does not allocate: the epoll_event array is preallocated and grows only when an
//   `events` with a bigger capacity than ever before is passed.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <vector>

#include "os/nocancel.hpp"
#include "reactor/backend.hpp"
#include "reactor/eventfd_waker.hpp"

namespace corio::detail {

namespace {

constexpr std::uint64_t reserved_token = ~std::uint64_t{0};
constexpr std::size_t initial_batch = 1024;  // matches events' default capacity

// The one place a timeout becomes epoll's milliseconds: rounded up, so a 1 ns timeout waits
// 1 ms instead of becoming 0 (a busy loop). Waits beyond INT_MAX ms (~24 days) are clamped;
// they return early with no events, which callers already handle.
int to_epoll_timeout(std::optional<std::chrono::nanoseconds> timeout) noexcept {
  if (!timeout) return -1;
  if (timeout->count() <= 0) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

std::uint32_t to_epoll_events(interest i) noexcept {
  std::uint32_t bits = EPOLLET | EPOLLRDHUP;
  if (i.is_readable()) bits |= EPOLLIN | EPOLLPRI;
  if (i.is_writable()) bits |= EPOLLOUT;
  return bits;
}

constexpr std::uint8_t flags_of(std::uint32_t bits) noexcept {
  std::uint8_t flags = 0;
  if ((bits & EPOLLIN) != 0) flags |= event::readable;
  if ((bits & EPOLLOUT) != 0) flags |= event::writable;
  if ((bits & EPOLLERR) != 0) flags |= event::error;
  if ((bits & (EPOLLRDHUP | EPOLLHUP)) != 0) flags |= event::read_closed;
  if ((bits & EPOLLHUP) != 0) flags |= event::write_closed;
  if ((bits & EPOLLPRI) != 0) flags |= event::priority;
  return flags;
}

// Every event of every wait goes through this: six bits (EPOLLIN, PRI, OUT, ERR, HUP in bits
// 0-4, RDHUP moved down to bit 5) index a table built from flags_of at compile time.
static_assert(EPOLLIN == 0x1 && EPOLLPRI == 0x2 && EPOLLOUT == 0x4 && EPOLLERR == 0x8 &&
              EPOLLHUP == 0x10 && EPOLLRDHUP == 0x2000);
constexpr std::uint32_t rdhup_shift = 8;  // 0x2000 >> 8 == 0x20
struct flag_table {
  std::uint8_t to[64];
  constexpr flag_table() : to{} {
    for (std::uint32_t i = 0; i < 64; ++i) {
      to[i] = flags_of((i & 0x1f) | ((i & 0x20) << rdhup_shift));
    }
  }
};
constexpr flag_table epoll_flags;

std::uint8_t to_flags(std::uint32_t bits) noexcept {
  return epoll_flags.to[(bits & 0x1f) | ((bits >> rdhup_shift) & 0x20)];
}

class epoll_backend final : public backend {
 public:
  explicit epoll_backend(int epfd) : epfd_(epfd), ready_(initial_batch) {}
  epoll_backend(const epoll_backend&) = delete;
  epoll_backend& operator=(const epoll_backend&) = delete;
  ~epoll_backend() override { ::close(epfd_); }

  backend_kind kind() const noexcept override { return backend_kind::epoll; }

  result<void> add(int fd, token t, interest i) override {
    if (static_cast<std::uint64_t>(t) == reserved_token) return error::invalid_token;
    if (ctl(EPOLL_CTL_ADD, fd, t, i) == 0) return {};
    if (errno == EEXIST) return error::already_registered;
    return last_errno();
  }

  result<void> modify(int fd, token t, interest i) override {
    if (static_cast<std::uint64_t>(t) == reserved_token) return error::invalid_token;
    if (ctl(EPOLL_CTL_MOD, fd, t, i) == 0) return {};
    if (errno == ENOENT) return error::not_registered;
    return last_errno();
  }

  result<void> remove(int fd) override {
    // Linux < 2.6.9 wanted a non-null event even for DEL; passing one costs nothing.
    epoll_event ev{};
    if (::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev) == 0) return {};
    if (errno == ENOENT) return error::not_registered;
    return last_errno();
  }

  result<void> wait(events& out, std::optional<std::chrono::nanoseconds> timeout) override {
    out.clear();
    const std::size_t capacity = out.capacity();
    if (ready_.size() < capacity) ready_.resize(capacity);  // only for a bigger `events`
    const int max = static_cast<int>(std::min<std::size_t>(capacity, INT_MAX));

    // EINTR (a signal handler ran, or io_uring's exit task work for a ring this thread used)
    // waits again for the time left, as libuv does: a signal that matters wakes the loop
    // through its self-pipe, and a timeout must never end early.
    const int wait_ms = to_epoll_timeout(timeout);
    // Only a wait with a limit needs its deadline (0 never waits again, -1 has none).
    const auto deadline = wait_ms > 0 ? std::chrono::steady_clock::now() +
                                            std::chrono::milliseconds(wait_ms)
                                      : std::chrono::steady_clock::time_point{};
    int n = sys::nocancel::epoll_wait(epfd_, ready_.data(), max, wait_ms);
    while (n < 0) {
      if (errno != EINTR) return last_errno();
      std::optional<std::chrono::nanoseconds> left;
      if (wait_ms == 0) return {};
      if (wait_ms > 0) {
        left = deadline - std::chrono::steady_clock::now();
        if (left->count() <= 0) return {};
      }
      n = sys::nocancel::epoll_wait(epfd_, ready_.data(), max, to_epoll_timeout(left));
    }
    // Each epoll_event becomes at most one event and n <= max <= out.capacity(), so the
    // events are written in place. (Local pointers: a store through one could otherwise alias
    // ready_'s own members.)
    const epoll_event* const got = ready_.data();
    event* const made = room(out);
    std::size_t count = 0;
    for (int k = 0; k < n; ++k) {
      const epoll_event& ev = got[k];
      if (ev.data.u64 == reserved_token) {
        if (waker_ && waker_->drain()) made[count++] = event(waker_token_, event::readable);
        continue;
      }
      made[count++] = event(token{ev.data.u64}, to_flags(ev.events));
    }
    filled(out, count);
    return {};
  }

  result<std::shared_ptr<wake_handle>> make_waker(token t) override {
    if (waker_) return error::already_registered;
    auto w = std::make_shared<eventfd_waker>();  // allocate first: the fd is then never leaked
    if (auto opened = w->open(); !opened) return opened.error();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = reserved_token;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, w->fd(), &ev) != 0) return last_errno();
    waker_ = w;
    waker_token_ = t;
    return std::shared_ptr<wake_handle>(std::move(w));
  }

 private:
  int ctl(int op, int fd, token t, interest i) noexcept {
    epoll_event ev{};
    ev.events = to_epoll_events(i);
    ev.data.u64 = static_cast<std::uint64_t>(t);
    return ::epoll_ctl(epfd_, op, fd, &ev);
  }

  int epfd_;
  std::vector<epoll_event> ready_;
  std::shared_ptr<eventfd_waker> waker_;
  token waker_token_{};
};

}  // namespace

result<std::unique_ptr<backend>> make_epoll_backend() {
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return last_errno();
  try {
    return std::unique_ptr<backend>(std::make_unique<epoll_backend>(epfd));
  } catch (...) {  // bad_alloc from the event array: do not leak the epoll fd
    ::close(epfd);
    throw;
  }
}

}  // namespace corio::detail
