// unique_fd's close. (read(2), the fd-level transfer, is inline in byte_io.hpp.)
#include <corio/unique_fd.hpp>

#include <unistd.h>

namespace corio {

void unique_fd::reset(int fd) noexcept {
  if (fd == fd_) return;
  // Not retried on EINTR: Linux has released the fd already (see the header).
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace corio
