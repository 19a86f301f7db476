#include "completion/received_buffers.hpp"

#include <algorithm>
#include <cstring>

namespace corio::detail {

void received_buffers::attach(io_uring_buffer_ring& ring) {
  ring_ = &ring;
  base_ = ring.memory();
  enabled_ = ring.count() > 0;
  storage_.assign(ring.count(), filled{0, receive_queue::none});
  filled_ = storage_.data();
}

std::size_t received_buffers::copy_some(receive_queue& q, std::span<std::byte> dst) noexcept {
  std::size_t copied = 0;
  while (copied < dst.size() && q.head != receive_queue::none) {
    const std::uint16_t id = q.head;
    const std::byte* data = base_ + id * io_uring_buffer_ring::buffer_size;
    const std::size_t n = std::min(dst.size() - copied, std::size_t{filled_[id].length - q.offset});
    std::memcpy(dst.data() + copied, data + q.offset, n);
    copied += n;
    q.offset += static_cast<std::uint32_t>(n);
    q.queued -= n;
    if (q.offset == filled_[id].length) {
      q.head = filled_[id].next;
      if (q.head == receive_queue::none) q.tail = receive_queue::none;
      q.offset = 0;
      dequeue(id);
    }
  }
  return copied;
}

void received_buffers::release_all(receive_queue& q) noexcept {
  while (q.head != receive_queue::none) {
    const std::uint16_t id = q.head;
    q.head = filled_[id].next;
    dequeue(id);
  }
  q = receive_queue{};
}

}  // namespace corio::detail
