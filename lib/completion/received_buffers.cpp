#include "completion/received_buffers.hpp"

#include <algorithm>
#include <cstring>

namespace corio::detail {

void received_buffers::attach(io_uring_buffer_ring& ring) {
  ring_ = &ring;
  base_ = ring.memory();
  enabled_ = ring.count() > 0;
  next_.assign(ring.count(), receive_queue::none);
  length_.assign(ring.count(), 0);
}

void received_buffers::append(receive_queue& q, std::uint16_t id, std::size_t length) noexcept {
  next_[id] = receive_queue::none;
  length_[id] = static_cast<std::uint32_t>(length);
  if (q.tail == receive_queue::none) {
    q.head = id;
  } else {
    next_[q.tail] = id;
  }
  q.tail = id;
  q.queued += length;
  ++held_;
}

std::size_t received_buffers::copy_to(receive_queue& q, std::span<std::byte> dst) noexcept {
  std::size_t copied = 0;
  while (copied < dst.size() && q.head != receive_queue::none) {
    const std::uint16_t id = q.head;
    const std::byte* data = base_ + id * io_uring_buffer_ring::buffer_size;
    const std::size_t n = std::min(dst.size() - copied, std::size_t{length_[id] - q.offset});
    std::memcpy(dst.data() + copied, data + q.offset, n);
    copied += n;
    q.offset += static_cast<std::uint32_t>(n);
    q.queued -= n;
    if (q.offset == length_[id]) {
      q.head = next_[id];
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
    q.head = next_[id];
    dequeue(id);
  }
  q = receive_queue{};
}

}  // namespace corio::detail
