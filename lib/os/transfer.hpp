// The per-message read and send, inline, for the .cpp files of lib/os only (it includes OS
// headers). sys::read and sys::send are these; tcp_stream's read and write call them directly,
// which saves a call through the PLT and a second frame, about 10 instructions per call, twice
// per echoed message.
#pragma once

#include <cerrno>

#include "os/nocancel.hpp"
#include "os/sys.hpp"

namespace corio::sys {

// The failures, out of line (fd.cpp, socket.cpp): the error (`error` is the positive errno),
// and the retry after EINTR. The inline success path then needs no frame and no saved
// registers, and reaches them by a tail call.
result<std::size_t> read_failed(int fd, byte_span buf, int error);
result<std::size_t> send_failed(int fd, const_byte_span buf, int error);

// read(2) rather than recv(2) so the same primitive serves sockets, pipes and eventfds.
inline result<std::size_t> read_now(int fd, byte_span buf) {
  const long n = nocancel::read_raw(fd, buf.data(), buf.size());
  if (n >= 0) [[likely]] return static_cast<std::size_t>(n);
  return read_failed(fd, buf, static_cast<int>(-n));
}

inline result<std::size_t> send_now(int fd, const_byte_span buf) {
  const long n = nocancel::sendto_raw(fd, buf.data(), buf.size(), MSG_NOSIGNAL, nullptr, 0);
  if (n >= 0) [[likely]] return static_cast<std::size_t>(n);
  return send_failed(fd, buf, static_cast<int>(-n));
}

}  // namespace corio::sys
