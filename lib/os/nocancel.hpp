// The system calls on the per-message path (read, send, sendmsg, recvfrom, accept4, epoll_wait),
// made without glibc's thread-cancellation wrapper.
//
// Why: glibc's read, send, recvfrom, accept4 and epoll_wait are cancellation points. Once a
// process has ever had a second thread (a runtime's workers, the diagnostics watchdog), each call
// switches asynchronous cancellation on and off around the system call: 78 user-space
// instructions per read instead of 33 (callgrind, glibc 2.36), about 90 per echoed message.
// corio never cancels a thread, so it calls the kernel directly (inline on x86-64, else through
// syscall(2): 39 instructions, with or without threads).
//
// Under a sanitizer the libc functions stay: their interceptors check the buffer the kernel
// writes (ASan) and see the synchronisation a socket or pipe carries between threads (TSan). The
// kernel call is the same either way.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <type_traits>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_LIBC_SYSCALLS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CORIO_LIBC_SYSCALLS 1
#endif
#endif

namespace corio::sys::nocancel {

#ifdef CORIO_LIBC_SYSCALLS

inline long read(int fd, void* buf, std::size_t n) noexcept { return ::read(fd, buf, n); }
inline long sendto(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to,
                   socklen_t to_len) noexcept {
  return ::sendto(fd, buf, n, flags, to, to_len);
}
inline long sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return ::sendmsg(fd, msg, flags);
}
inline long recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* from,
                     socklen_t* from_len) noexcept {
  return ::recvfrom(fd, buf, n, flags, from, from_len);
}
inline int accept4(int fd, sockaddr* peer, socklen_t* len, int flags) noexcept {
  return ::accept4(fd, peer, len, flags);
}
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept {
  return ::epoll_wait(epfd, events, max, timeout_ms);
}

#else

// The kernel's own calling convention, inline where we know it: glibc's syscall(3) is an
// out-of-line function that moves all six arguments one register along and tests the result
// for errno (about 11 instructions more per call, two calls per echoed message). Same contract
// as syscall(3): -1 and errno on failure.
#if defined(__x86_64__)
inline long kernel_call(long number, long a, long b, long c, long d = 0, long e = 0,
                        long f = 0) noexcept {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long r;
  // "memory": the kernel reads and writes the buffers the arguments point at.
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  if (r < 0 && r > -4096) [[unlikely]] {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}
template <class T>
inline long as_register(T v) noexcept {
  if constexpr (std::is_null_pointer_v<T>) {
    return 0;
  } else if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<long>(v);
  } else {
    return static_cast<long>(v);
  }
}
template <class... Args>
inline long syscall(long number, Args... args) noexcept {
  return kernel_call(number, as_register(args)...);
}
#else
using ::syscall;
#endif

inline long read(int fd, void* buf, std::size_t n) noexcept {
  return syscall(SYS_read, fd, buf, n);
}
inline long sendto(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to,
                   socklen_t to_len) noexcept {
  return syscall(SYS_sendto, fd, buf, n, flags, to, to_len);
}
inline long sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return syscall(SYS_sendmsg, fd, msg, flags);
}
inline long recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* from,
                     socklen_t* from_len) noexcept {
  return syscall(SYS_recvfrom, fd, buf, n, flags, from, from_len);
}
inline int accept4(int fd, sockaddr* peer, socklen_t* len, int flags) noexcept {
  return static_cast<int>(syscall(SYS_accept4, fd, peer, len, flags));
}
// epoll_pwait with no signal mask is epoll_wait, and exists on every Linux architecture
// (arm64 has no epoll_wait system call).
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept {
  return static_cast<int>(
      syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, std::size_t{8}));
}

#endif

}  // namespace corio::sys::nocancel
