// unique_fd's close, and the fd-level primitives that are not socket-specific.
#include <corio/unique_fd.hpp>

#include <unistd.h>

#include "os/sys.hpp"
#include "os/transfer.hpp"

namespace corio {

void unique_fd::reset(int fd) noexcept {
  if (fd == fd_) return;
  // Not retried on EINTR: Linux has released the fd already (see the header).
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace corio

namespace corio::sys {

result<std::size_t> read(int fd, byte_span buf) { return read_now(fd, buf); }

result<std::size_t> read_failed(int fd, byte_span buf, int error) {
  if (error != EINTR) return errno_code(error);
  return size_or_errno(retry_eintr([&] { return nocancel::read(fd, buf.data(), buf.size()); }));
}

}  // namespace corio::sys
