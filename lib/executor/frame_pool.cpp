// Per-thread coroutine frame pool; the contract is in include/corio/detail/frame_pool.hpp.
//
// Invariants:
// - A block on the list of class c was obtained from ::operator new(class_bytes(c)), whichever
//   thread obtained it, so it is returned with the same size.
// - The thread's pool_state is trivially destructible and constant-initialized: it stays readable
//   for the whole life of the thread, even after the exit hook ran (a task destroyed by a later
//   thread_local destructor still frees correctly; it just is not retained any more).
// - Under ASan a retained block is poisoned, so a use of a destroyed frame is still reported
//   although the memory never went back to malloc.
#include <corio/detail/frame_pool.hpp>

#include <atomic>
#include <new>

#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>  // macros expand to nothing unless ASan is on
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

namespace corio::detail {
namespace {

constexpr std::size_t granule = 64;
constexpr std::size_t max_pooled_size = 16 * 1024;  // room for a frame holding an I/O buffer
constexpr std::size_t class_count = max_pooled_size / granule;

// Callers guarantee 0 < size <= max_pooled_size.
constexpr std::size_t class_of(std::size_t size) noexcept { return (size - 1) / granule; }
constexpr std::size_t class_bytes(std::size_t c) noexcept { return (c + 1) * granule; }

struct free_block {
  free_block* next;
};

enum class phase : unsigned char { fresh, live, exited };

struct pool_state {
  free_block* heads[class_count];
  frame_pool_counters counters;
  phase life;
};

constinit thread_local pool_state pool{};
// The thread's pool, reached without __tls_get_addr: `pool` is too large for the static TLS
// surplus a dlopen()ed libcorio may rely on (so it stays global-dynamic), but one pointer is
// not (the executor's this_thread_executor does the same). Null until the thread's first use;
// `pool` outlives every use, so the pointer never dangles.
constinit thread_local pool_state* pool_here [[gnu::tls_model("initial-exec")]] = nullptr;

// Out of line: the global-dynamic access to `pool` calls __tls_get_addr, which would make
// every caller save registers on its hot path too.
[[gnu::noinline]] pool_state& first_use() noexcept {
  pool_here = &pool;
  return pool;
}
pool_state& this_pool() noexcept {
  pool_state* p = pool_here;
  if (p == nullptr) [[unlikely]] return first_use();
  return *p;
}
std::atomic<std::size_t> retain_limit{std::size_t{4} << 20};

void release_all(pool_state& p) noexcept {
  for (std::size_t c = 0; c < class_count; ++c) {
    while (free_block* b = p.heads[c]) {
      ASAN_UNPOISON_MEMORY_REGION(b, class_bytes(c));
      p.heads[c] = b->next;
      ::operator delete(b);
    }
  }
  p.counters.retained_bytes = 0;
}

// Its destructor is the thread-exit hook. It is touched only on the first retain of a thread,
// so threads that never free a frame pay nothing at exit.
struct exit_hook {
  bool armed = false;
  ~exit_hook() {
    release_all(pool);
    pool.life = phase::exited;
  }
};
thread_local exit_hook hook;

// The first retain of a thread, out of line: touching `hook` registers its destructor.
[[gnu::noinline]] void go_live(pool_state& p) noexcept {
  hook.armed = true;
  p.life = phase::live;
}

}  // namespace

void* frame_allocate(std::size_t size) {
  pool_state& p = this_pool();
  if (size != 0 && size <= max_pooled_size) {
    const std::size_t c = class_of(size);
    if (free_block* b = p.heads[c]) {
      ASAN_UNPOISON_MEMORY_REGION(b, class_bytes(c));
      p.heads[c] = b->next;
      p.counters.retained_bytes -= class_bytes(c);
      ++p.counters.pooled_allocations;
      return b;
    }
    size = class_bytes(c);  // so the block can later serve any frame of its class
  }
  void* frame = ::operator new(size);
  ++p.counters.system_allocations;
  return frame;
}

namespace {

// frame_deallocate's every other case, out of line so that the usual one (a live pool under
// its cap) saves no registers: a large frame, the first retain of a thread, an exited thread,
// a list over the cap.
[[gnu::noinline]] void deallocate_slow(pool_state& p, void* frame, std::size_t size) noexcept {
  if (size == 0 || size > max_pooled_size) {
    ::operator delete(frame);
    return;
  }
  const std::size_t c = class_of(size);
  const std::size_t bytes = class_bytes(c);
  // Over the cap a class still keeps one block: a burst of one frame size (a deep recursion)
  // must not leave every other size allocating from the system until the next trim.
  const bool over_cap =
      p.heads[c] != nullptr &&
      p.counters.retained_bytes + bytes > retain_limit.load(std::memory_order_relaxed);
  if (p.life == phase::exited || over_cap) {
    ::operator delete(frame);
    return;
  }
  if (p.life == phase::fresh) go_live(p);
  free_block* b = static_cast<free_block*>(frame);
  b->next = p.heads[c];
  p.heads[c] = b;
  p.counters.retained_bytes += bytes;
  ASAN_POISON_MEMORY_REGION(b, bytes);
}

}  // namespace

void frame_deallocate(void* frame, std::size_t size) noexcept {
  pool_state& p = this_pool();
  ++p.counters.deallocations;
  // size - 1 wraps for 0, so one comparison keeps both 0 and large frames out.
  if (size - 1 < max_pooled_size && p.life == phase::live) [[likely]] {
    const std::size_t c = class_of(size);
    const std::size_t bytes = class_bytes(c);
    free_block* const head = p.heads[c];
    if (head == nullptr ||
        p.counters.retained_bytes + bytes <= retain_limit.load(std::memory_order_relaxed)) {
      free_block* b = static_cast<free_block*>(frame);
      b->next = head;
      p.heads[c] = b;
      p.counters.retained_bytes += bytes;
      ASAN_POISON_MEMORY_REGION(b, bytes);
      return;
    }
  }
  deallocate_slow(p, frame, size);
}

frame_pool_counters frame_pool_stats() noexcept { return this_pool().counters; }

void frame_pool_trim() noexcept { release_all(this_pool()); }

std::size_t set_frame_pool_retain_limit(std::size_t bytes) noexcept {
  return retain_limit.exchange(bytes, std::memory_order_relaxed);
}

std::size_t frame_pool_retain_limit() noexcept {
  return retain_limit.load(std::memory_order_relaxed);
}

}  // namespace corio::detail
