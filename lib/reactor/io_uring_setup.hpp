// Making an io_uring, shared by the readiness backend (reactor/io_uring.cpp) and the completion
// engine (completion/io_uring_engine.cpp): the ring sizes, the setup flags and their fallbacks
// on older kernels, and the features both require.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <cstdlib>
#include <span>
#include <string_view>
#include <system_error>

#if defined(__SANITIZE_THREAD__)
#define CORIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
#endif
#endif
#if defined(CORIO_TSAN) && __has_include(<sanitizer/tsan_interface.h>)
#include <sanitizer/tsan_interface.h>
#else
#undef CORIO_TSAN
#endif

namespace corio::detail {

// liburing maps and unmaps a ring with raw system calls, which ThreadSanitizer does not
// intercept: when a thread's ring is destroyed and another thread's new ring is mapped at the
// same address, TSan still holds the first thread's writes to those SQEs and reports the
// second thread's as a data race (issue 17, finding 6). The kernel does order them (munmap
// before mmap), so tell TSan: every ring teardown releases, every new ring acquires.
#ifdef CORIO_TSAN
inline char ring_handoff;
inline void ring_mapped() noexcept { __tsan_acquire(&ring_handoff); }
inline void ring_unmapping() noexcept { __tsan_release(&ring_handoff); }
#else
inline void ring_mapped() noexcept {}
inline void ring_unmapping() noexcept {}
#endif

// Every ring ends here, so TSan sees each teardown (see above).
inline void exit_ring(io_uring& ring) noexcept {
  ring_unmapping();
  ::io_uring_queue_exit(&ring);
}

// A loop turn queues about two requests per busy connection (a receive and a send); a full
// submission queue costs an extra io_uring_enter, which at 256 entries made 512 connections
// pay 0.67 system calls per echoed message. 2048 + 8192 entries are 256 KiB per ring.
inline constexpr unsigned sq_entries = 2048;
inline constexpr unsigned cq_entries = 8192;

inline std::error_code os_error(int negative_errno) noexcept {
  return {-negative_errno, std::system_category()};
}

// Who may wait on the ring: only the thread that made it (an executor's) or any one thread at
// a time (a public poll may be handed between threads).
enum class ring_threads : unsigned char { any, owner_only };

// Completions of a socket operation are finished as task work on the submitting thread. By
// default the kernel interrupts that thread for it (an IPI and a signal-like detour per
// wake-up, which made io_uring cost 25% more CPU per echoed message than epoll).
// COOP_TASKRUN runs it at the thread's next kernel entry instead; DEFER_TASKRUN (6.1) runs it
// only inside io_uring_enter(GETEVENTS), batched with the turn's one system call, but then
// only the thread that made the ring may wait on it, so only an executor's ring asks for it.
// Older kernels reject the flags with EINVAL: try the next set. CORIO_IO_URING_TASKRUN=coop
// or =plain starts further down the list, so those kernels' modes are tested on new ones too.
inline int init_ring(io_uring& ring, io_uring_params& params, ring_threads threads) noexcept {
  constexpr unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  constexpr unsigned deferred = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                                IORING_SETUP_TASKRUN_FLAG;
  constexpr unsigned cooperative = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const unsigned owner_only[] = {base | deferred, base | cooperative, base};
  const unsigned any[] = {base | cooperative, base};
  std::span<const unsigned> choices = threads == ring_threads::owner_only
                                         ? std::span<const unsigned>(owner_only)
                                         : std::span<const unsigned>(any);
  if (const char* forced = std::getenv("CORIO_IO_URING_TASKRUN")) {  // NOLINT(concurrency-mt-unsafe)
    const std::string_view mode(forced);
    const unsigned wanted = mode == "coop" ? base | cooperative : mode == "plain" ? base : 0;
    while (wanted != 0 && choices.size() > 1 && choices.front() != wanted) {
      choices = choices.subspan(1);
    }
  }
  int r = -EINVAL;
  for (const unsigned flags : choices) {
    params = io_uring_params{};
    params.flags = flags;
    params.cq_entries = cq_entries;
    r = ::io_uring_queue_init_params(sq_entries, &ring, &params);
    if (r != -EINVAL) break;
  }
  if (r >= 0) ring_mapped();
  return r;
}

// Multishot poll arrived in 5.13 with RSRC_TAGS; EXT_ARG gives a timed wait in one syscall.
inline bool has_needed_features(const io_uring_params& params) noexcept {
  constexpr unsigned needed = IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS | IORING_FEAT_NODROP;
  return (params.features & needed) == needed;
}

}  // namespace corio::detail
