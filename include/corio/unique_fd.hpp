// unique_fd: sole owner of one file descriptor, closed on destruction. Move-only, like
// std::unique_ptr for an int. -1 means "owns nothing".
//
// close() is never retried: on Linux the descriptor is released even when close fails with
// EINTR, so a retry could close an fd another thread has just been given.
#pragma once

#include <utility>

namespace corio {

class unique_fd {
 public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up ownership without closing; the caller now owns the returned fd.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the owned fd (if any) and takes `fd`. Resetting to the fd already owned is a no-op
  // rather than a close of the new value.
  void reset(int fd = -1) noexcept;

 private:
  int fd_;
};

}  // namespace corio
