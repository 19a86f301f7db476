// The seam between task.hpp's promise and lib/executor/frame_pool.cpp: every coroutine frame a
// task allocates comes from a per-thread pool, so that in steady state starting and finishing
// tasks never calls the global operator new (and so never takes malloc's locks).
//
// - Size classes of 64 bytes up to 16 KiB, one free list per class per thread. Larger frames go
//   straight to ::operator new / ::operator delete.
// - Any thread may free any frame. A frame freed on another thread than the one that allocated
//   it joins the freeing thread's list (no cross-thread queue, no atomics on the hot path); under
//   thread-per-core, work that moves between threads moves its frames' memory with it.
// - Each thread keeps at most frame_pool_retain_limit() bytes on its lists, plus at most one
//   block per size class (so a burst of one size cannot starve the others); frames freed beyond
//   that go back to the system. A thread returns everything it kept when it exits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corio::detail {

// Storage for a coroutine frame of `size` bytes, aligned like ::operator new(size).
// Throws std::bad_alloc when the system is out of memory.
[[nodiscard]] void* frame_allocate(std::size_t size);

// Frees a frame; `size` must be the value given to frame_allocate. Safe on any thread.
void frame_deallocate(void* frame, std::size_t size) noexcept;

// The calling thread's counters since it started.
struct frame_pool_counters {
  std::uint64_t pooled_allocations = 0;  // served from this thread's free lists
  std::uint64_t system_allocations = 0;  // went to ::operator new (cold class, large frame)
  std::uint64_t deallocations = 0;       // frames freed on this thread, pooled or not
  std::size_t retained_bytes = 0;        // bytes sitting on this thread's free lists now
};
[[nodiscard]] frame_pool_counters frame_pool_stats() noexcept;

// Returns every frame the calling thread retains to the system.
void frame_pool_trim() noexcept;

// Process-wide cap on the bytes each thread retains (default 4 MiB). Returns the previous cap.
// Lowering it does not trim lists already above it; frame_pool_trim() does.
std::size_t set_frame_pool_retain_limit(std::size_t bytes) noexcept;
[[nodiscard]] std::size_t frame_pool_retain_limit() noexcept;

}  // namespace corio::detail
