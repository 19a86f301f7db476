// An LD_PRELOAD shim that counts heap allocations (malloc, calloc, realloc, aligned_alloc,
// posix_memalign, memalign; operator new reaches malloc) and, at exit, appends
// `allocations N` to the file named by $ALLOC_COUNT_FILE. The bench takes differences between
// runs, so start-up and shutdown cancel out. Forwarding goes through the real functions
// (RTLD_NEXT); calloc during dlsym's own start-up is served from a small static arena.
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

namespace {

std::atomic<unsigned long long> count{0};
alignas(16) char arena[4096];
std::size_t arena_used = 0;

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

using malloc_fn = void* (*)(std::size_t);
using calloc_fn = void* (*)(std::size_t, std::size_t);
using realloc_fn = void* (*)(void*, std::size_t);
using aligned_fn = void* (*)(std::size_t, std::size_t);
using posix_memalign_fn = int (*)(void**, std::size_t, std::size_t);

bool in_arena(void* p) { return p >= arena && p < arena + sizeof arena; }

__attribute__((destructor)) void report() {
  const char* path = std::getenv("ALLOC_COUNT_FILE");
  if (!path) return;
  char line[64];
  const int n = std::snprintf(line, sizeof line, "allocations %llu\n", count.load());
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, line, static_cast<std::size_t>(n));
  close(fd);
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  static const malloc_fn f = real<malloc_fn>("malloc");
  count.fetch_add(1, std::memory_order_relaxed);
  return f(size);
}

void* calloc(std::size_t n, std::size_t size) noexcept {
  static calloc_fn f = nullptr;
  static bool resolving = false;
  if (!f) {
    if (resolving) {  // dlsym itself asked for memory
      void* p = arena + arena_used;
      arena_used += (n * size + 15) & ~std::size_t{15};
      return arena_used <= sizeof arena ? p : nullptr;
    }
    resolving = true;
    f = real<calloc_fn>("calloc");
    resolving = false;
  }
  count.fetch_add(1, std::memory_order_relaxed);
  return f(n, size);
}

void* realloc(void* p, std::size_t size) noexcept {
  static const realloc_fn f = real<realloc_fn>("realloc");
  count.fetch_add(1, std::memory_order_relaxed);
  return f(p, size);
}

void free(void* p) noexcept {
  static const auto f = real<void (*)(void*)>("free");
  if (!in_arena(p)) f(p);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  static const aligned_fn f = real<aligned_fn>("aligned_alloc");
  count.fetch_add(1, std::memory_order_relaxed);
  return f(alignment, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  static const aligned_fn f = real<aligned_fn>("memalign");
  count.fetch_add(1, std::memory_order_relaxed);
  return f(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  static const posix_memalign_fn f = real<posix_memalign_fn>("posix_memalign");
  count.fetch_add(1, std::memory_order_relaxed);
  return f(out, alignment, size);
}

}  // extern "C"
