// Counting allocations from inside a test binary: replaces the global operator new (and, where
// no sanitizer owns it, malloc/calloc/realloc) with versions that count calls made on this
// thread while `counting` is set. Include it from exactly one file of a binary that has no
// other tests (tests/meson.build gives each allocation test its own executable).
#pragma once

#include <cstdlib>
#include <new>

#include "sanitizers.hpp"

namespace {
[[maybe_unused]] constinit thread_local bool counting = false;
[[maybe_unused]] constinit thread_local std::size_t new_calls = 0;
[[maybe_unused]] constinit thread_local std::size_t malloc_calls = 0;

[[gnu::noinline, maybe_unused]] void* counted_new(std::size_t size) {
  if (counting) ++new_calls;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline, maybe_unused]] void counted_delete(void* p) noexcept { std::free(p); }
}  // namespace

#if CORIO_TEST_CAN_REPLACE_NEW
void* operator new(std::size_t size) { return counted_new(size); }
void* operator new[](std::size_t size) { return counted_new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t& nt) noexcept {
  return ::operator new(size, nt);
}
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_delete(p); }
#endif

#if CORIO_TEST_CAN_REPLACE_MALLOC
// glibc's own entry points, so the replacements below can count and forward.
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void* malloc(std::size_t size) {
  if (counting) ++malloc_calls;
  return __libc_malloc(size);
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
  if (counting) ++malloc_calls;
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t size) {
  if (counting) ++malloc_calls;
  return __libc_realloc(p, size);
}
#endif
