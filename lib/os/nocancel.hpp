// The system calls on the per-message path (read, send, sendmsg, recvfrom, accept4, epoll_wait),
// made without glibc's thread-cancellation wrapper.
//
// Why: glibc's read, send, recvfrom, accept4 and epoll_wait are cancellation points. Once a
// process has ever had a second thread (a runtime's workers, the diagnostics watchdog), each call
// switches asynchronous cancellation on and off around the system call: 78 user-space
// instructions per read instead of 33 (callgrind, glibc 2.36), about 90 per echoed message.
// corio never cancels a thread, so it calls the kernel directly: on x86-64 with the syscall
// instruction inline (the call into glibc's syscall(3) and its argument shuffle cost 11 more
// instructions and a PLT jump per call, on the two calls of every echoed message), elsewhere
// through syscall(3).
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

inline long read_raw(int fd, void* buf, std::size_t n) noexcept {
  const long r = ::read(fd, buf, n);
  return r < 0 ? -errno : r;
}
inline long sendto_raw(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to,
                       socklen_t to_len) noexcept {
  const long r = ::sendto(fd, buf, n, flags, to, to_len);
  return r < 0 ? -errno : r;
}

#else

#if defined(__x86_64__)
// The kernel's calling convention: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; it
// clobbers rcx and r11 and returns -errno on failure.
inline long raw_kernel_call(long number, long a, long b, long c, long d = 0, long e = 0,
                            long f = 0) noexcept {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#else
inline long raw_kernel_call(long number, long a, long b, long c, long d = 0, long e = 0,
                            long f = 0) noexcept {
  const long r = ::syscall(number, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
#endif

// As syscall(3) returns: -1 and errno on failure, so callers are the same on every architecture.
inline long kernel_call(long number, long a, long b, long c, long d = 0, long e = 0,
                        long f = 0) noexcept {
  const long ret = raw_kernel_call(number, a, b, c, d, e, f);
  if (ret < 0 && ret > -4096) [[unlikely]] {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}

template <class T>
inline long arg(T* p) noexcept {
  return reinterpret_cast<long>(p);
}

inline long read(int fd, void* buf, std::size_t n) noexcept {
  return kernel_call(SYS_read, fd, arg(buf), static_cast<long>(n));
}
inline long sendto(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to,
                   socklen_t to_len) noexcept {
  return kernel_call(SYS_sendto, fd, arg(buf), static_cast<long>(n), flags, arg(to), to_len);
}
inline long sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return kernel_call(SYS_sendmsg, fd, arg(msg), flags);
}
inline long recvfrom(int fd, void* buf, std::size_t n, int flags, sockaddr* from,
                     socklen_t* from_len) noexcept {
  return kernel_call(SYS_recvfrom, fd, arg(buf), static_cast<long>(n), flags, arg(from),
                     arg(from_len));
}
inline int accept4(int fd, sockaddr* peer, socklen_t* len, int flags) noexcept {
  return static_cast<int>(kernel_call(SYS_accept4, fd, arg(peer), arg(len), flags));
}
// read and sendto returning -errno on failure, errno untouched: a caller's success path then
// makes no call (errno is thread-local) and needs no frame.
inline long read_raw(int fd, void* buf, std::size_t n) noexcept {
  return raw_kernel_call(SYS_read, fd, arg(buf), static_cast<long>(n));
}
inline long sendto_raw(int fd, const void* buf, std::size_t n, int flags, const sockaddr* to,
                       socklen_t to_len) noexcept {
  return raw_kernel_call(SYS_sendto, fd, arg(buf), static_cast<long>(n), flags, arg(to), to_len);
}
// epoll_pwait with no signal mask is epoll_wait, and exists on every Linux architecture
// (arm64 has no epoll_wait system call).
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept {
  return static_cast<int>(
      kernel_call(SYS_epoll_pwait, epfd, arg(events), max, timeout_ms, 0, 8));
}

#endif

}  // namespace corio::sys::nocancel
