// unique_fd's close, and the fd-level primitives that are not socket-specific.
#include <corio/unique_fd.hpp>

#include <unistd.h>

#include "os/nocancel.hpp"
#include "os/sys.hpp"

namespace corio {

void unique_fd::reset(int fd) noexcept {
  if (fd == fd_) return;
  // Not retried on EINTR: Linux has released the fd already (see the header).
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace corio

namespace corio::sys {

// read(2) rather than recv(2) so the same primitive serves sockets, pipes and eventfds.
result<std::size_t> read(int fd, byte_span buf) {
  return transfer([&] { return nocancel::read(fd, buf.data(), buf.size()); });
}

}  // namespace corio::sys
