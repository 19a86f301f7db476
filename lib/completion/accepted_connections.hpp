// Multishot accept for listeners on a completion kernel (io_uring): one request stays armed and
// the kernel completes it once per new connection; each accepted fd waits here, on the
// listener's socket_input, until an accept() takes it, so a burst of connections costs one request.
//
// Bounds: at most `cap` connections wait here; past that the request is cancelled and the rest
// wait in the kernel's backlog until accept() drains the queue and arms it again. An accept
// error ends the request; it is reported to one accept() and the next one arms a new request.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace corio::detail {

struct accept_queue {
  static constexpr std::size_t cap = 64;

  std::vector<int> fds;    // grows to `cap` once; taken from `head`
  std::size_t head = 0;
  std::int32_t error = 0;  // -errno that ended the last request, for one accept()
  bool armed = false;
  bool cancelling = false;

  std::size_t size() const noexcept { return fds.size() - head; }
  void push(int fd) { fds.push_back(fd); }
  // A connection (fd >= 0) or the error that came before the rest; nullopt when empty.
  std::optional<std::int32_t> take() noexcept {
    if (head < fds.size()) {
      const int fd = fds[head++];
      if (head == fds.size()) {
        fds.clear();
        head = 0;
      }
      return fd;
    }
    if (error != 0) return std::exchange(error, 0);
    return std::nullopt;
  }
  // The listener closed. Its backlog is reset by the kernel, but these connections were
  // already accepted: they end as tcp_server's close_backlog ends the ones it takes, with a
  // FIN, their unread input drained first (closing with unread input sends a reset).
  void close_all() noexcept {
    for (std::size_t k = head; k < fds.size(); ++k) {
      (void)::shutdown(fds[k], SHUT_WR);
      char sink[4096];
      for (int j = 0; j < 16 && ::recv(fds[k], sink, sizeof sink, MSG_DONTWAIT) > 0; ++j) {
      }
      ::close(fds[k]);
    }
    fds.clear();
    head = 0;
    error = 0;
    armed = cancelling = false;
  }
};

}  // namespace corio::detail
