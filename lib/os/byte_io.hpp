// The two byte transfers on every message's path, read and send, inline: a socket's read (a
// one-line method in tcp.cpp, unix.cpp, udp.cpp) is then one function down to the kernel
// instead of three calls across translation units.
#pragma once

#include <sys/socket.h>

#include "os/nocancel.hpp"
#include "os/sys.hpp"

namespace corio::sys {

// read(2) rather than recv(2) so the same primitive serves sockets, pipes and eventfds.
inline result<std::size_t> read(int fd, byte_span buf) {
  return size_or_errno(retry_eintr([&] { return nocancel::read(fd, buf.data(), buf.size()); }));
}

inline result<std::size_t> send(int fd, const_byte_span buf) {
  return size_or_errno(retry_eintr([&] {
    return nocancel::sendto(fd, buf.data(), buf.size(), MSG_NOSIGNAL, nullptr, 0);
  }));
}

}  // namespace corio::sys
