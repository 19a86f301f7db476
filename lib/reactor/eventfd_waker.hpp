// The waker of the Linux backends (epoll.cpp, io_uring.cpp): an eventfd that the backend
// watches. It is shared between the backend (which drains it) and every waker copy (which
// writes to it), so a waker outliving its backend writes to a live eventfd that nobody reads.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "reactor/backend.hpp"

namespace corio::detail {

class eventfd_waker final : public wake_handle {
 public:
  eventfd_waker() = default;
  eventfd_waker(const eventfd_waker&) = delete;
  eventfd_waker& operator=(const eventfd_waker&) = delete;
  ~eventfd_waker() override {
    if (fd_ >= 0) ::close(fd_);
  }

  result<void> open() noexcept {
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd_ < 0) return last_errno();
    return {};
  }
  int fd() const noexcept { return fd_; }

  result<void> wake() noexcept override {
    const std::uint64_t one = 1;
    for (;;) {
      if (::write(fd_, &one, sizeof one) >= 0) return {};
      if (errno == EINTR) continue;
      // EAGAIN: the counter is saturated, so a wake is pending already; wakes coalesce.
      if (errno == EAGAIN) return {};
      return last_errno();
    }
  }

  // One read resets the counter. False when nothing was pending: the wake that caused this
  // event was already consumed (and reported) by an earlier drain.
  bool drain() noexcept {
    std::uint64_t value = 0;
    return ::read(fd_, &value, sizeof value) == static_cast<ssize_t>(sizeof value);
  }

 private:
  int fd_ = -1;
};

}  // namespace corio::detail
