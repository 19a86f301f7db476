// The per-message read and send, inline, for the .cpp files of lib/os only (it includes OS
// headers). sys::read and sys::send are these; tcp_stream's read and write call them directly,
// which saves a call through the PLT and a second frame, about 10 instructions per call, twice
// per echoed message.
#pragma once

#include <cerrno>

#include "os/nocancel.hpp"
#include "os/sys.hpp"

namespace corio::sys {

// retry_eintr + size_or_errno, with the failure out of line: the common path then needs no
// frame and no saved registers (the retry loop needed both).
template <class Call>
[[gnu::noinline, gnu::cold]] result<std::size_t> transfer_failed(const Call& call) {
  if (errno != EINTR) return last_errno();
  return size_or_errno(retry_eintr(call));
}

template <class Call>
result<std::size_t> transfer(const Call& call) {
  const long n = call();
  if (n >= 0) [[likely]] return static_cast<std::size_t>(n);
  return transfer_failed(call);
}

// read(2) rather than recv(2) so the same primitive serves sockets, pipes and eventfds.
inline result<std::size_t> read_now(int fd, byte_span buf) {
  return transfer([fd, buf] { return nocancel::read(fd, buf.data(), buf.size()); });
}

inline result<std::size_t> send_now(int fd, const_byte_span buf) {
  return transfer(
      [fd, buf] { return nocancel::sendto(fd, buf.data(), buf.size(), MSG_NOSIGNAL, nullptr, 0); });
}

}  // namespace corio::sys
