// The receive buffers of an io_uring executor: a provided-buffer ring (kernel 5.19) that a
// multishot receive fills on its own, so a busy stream socket costs no request per message.
// Only the io_uring completion engine uses this.
//
// - The memory is mapped, not allocated: pages are touched only when the kernel first fills a
//   buffer, and a ring the kernel refuses costs nothing but two mappings.
// - The kernel takes buffers from the ring's head; release() appends at its tail, so buffer
//   ids cycle and a returned buffer is reused last.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>


namespace corio::detail {

class io_uring_buffer_ring {
 public:
  static constexpr std::uint16_t group = 0;
  // 2 KiB holds a typical request or response; a larger read takes several buffers.
  static constexpr std::size_t buffer_size = 2048;

  io_uring_buffer_ring() = default;
  io_uring_buffer_ring(const io_uring_buffer_ring&) = delete;
  io_uring_buffer_ring& operator=(const io_uring_buffer_ring&) = delete;
  // Unmapped after the ring is gone (the owner destroys the ring first).
  ~io_uring_buffer_ring() {
    if (entries_ != nullptr) ::munmap(entries_, entries_bytes());
    if (memory_ != nullptr) ::munmap(memory_, memory_bytes());
  }

  // How many buffers: CORIO_RECV_BUFFERS (a power of two up to 32768; 0 turns buffered
  // receive off, for comparison or a kernel that misbehaves), else 256. The kernel cycles
  // through all of them, so all get touched: 512 KiB per executor. A filled buffer is copied
  // out and returned within the loop turn that reaps it, so 256 served 512 busy connections
  // echoing at less CPU per message than epoll (bench/compare.py --connections 512), and a
  // dry pool costs a direct receive, not a stall. 1024 cost 4 KiB of RSS per connection there.
  static std::uint16_t configured_count() noexcept {
    constexpr std::uint16_t fallback = 256;
    const char* text = std::getenv("CORIO_RECV_BUFFERS");
    if (text == nullptr || *text == '\0') return fallback;
    char* end = nullptr;
    const unsigned long n = std::strtoul(text, &end, 10);
    if (*end != '\0' || n > 32768 || (n & (n - 1)) != 0) return fallback;
    return static_cast<std::uint16_t>(n);
  }

  // Registers the ring with `ring`; false (and nothing held) when the kernel or the
  // configuration says no.
  bool open(io_uring& ring, std::uint16_t count) noexcept {
    if (count == 0) return false;
    count_ = count;
    void* entries = ::mmap(nullptr, entries_bytes(), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* memory = ::mmap(nullptr, memory_bytes(), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (entries == MAP_FAILED || memory == MAP_FAILED) {
      if (entries != MAP_FAILED) ::munmap(entries, entries_bytes());
      if (memory != MAP_FAILED) ::munmap(memory, memory_bytes());
      return false;
    }
    entries_ = static_cast<io_uring_buf_ring*>(entries);
    memory_ = static_cast<std::byte*>(memory);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(entries_);
    reg.ring_entries = count_;
    reg.bgid = group;
    if (::io_uring_register_buf_ring(&ring, &reg, 0) != 0) {  // before 5.19: EINVAL
      ::munmap(entries_, entries_bytes());
      ::munmap(memory_, memory_bytes());
      entries_ = nullptr;
      memory_ = nullptr;
      return false;
    }
    ::io_uring_buf_ring_init(entries_);
    mask_ = ::io_uring_buf_ring_mask(count_);
    for (std::uint16_t id = 0; id < count_; ++id) {
      ::io_uring_buf_ring_add(entries_, memory_ + id * buffer_size, buffer_size, id, mask_, id);
    }
    ::io_uring_buf_ring_advance(entries_, count_);
    return true;
  }

  // Buffer k is at memory() + k * buffer_size; count() is 0 when the ring is not open.
  std::byte* memory() const noexcept { return memory_; }
  std::uint16_t count() const noexcept { return entries_ == nullptr ? 0 : count_; }

  void release(std::uint16_t id) noexcept {
    ::io_uring_buf_ring_add(entries_, memory_ + id * buffer_size, buffer_size, id, mask_, 0);
    ::io_uring_buf_ring_advance(entries_, 1);
  }

 private:
  std::size_t entries_bytes() const noexcept { return count_ * sizeof(io_uring_buf); }
  std::size_t memory_bytes() const noexcept { return count_ * buffer_size; }

  io_uring_buf_ring* entries_ = nullptr;
  std::byte* memory_ = nullptr;
  std::uint16_t count_ = 0;
  int mask_ = 0;
};

}  // namespace corio::detail
