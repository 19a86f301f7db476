// Buffered receive for stream sockets on a completion kernel (io_uring): one multishot receive
// per socket stays armed and fills the backend's receive buffers; each filled buffer is queued
// on the socket (socket_input.hpp) until a read copies it out, and then goes straight back to the kernel.
// So a busy connection costs no request per message (no re-armed poll inside the kernel), and
// a read that finds bytes queued does not suspend at all.
//
// Bounds: a socket holds at most `socket_cap` queued bytes; past that its receive is cancelled
// and the rest waits in the kernel's socket buffer (TCP flow control reaches the peer), until
// a read drains the queue and arms it again. When the shared buffers run dry (ENOBUFS) a read
// receives into its own buffer once (the plain request), so no socket can starve another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "completion/io_uring_buffer_ring.hpp"

namespace corio::detail {

// Per socket, in its socket_input.
struct receive_queue {
  static constexpr std::uint16_t none = 0xFFFF;
  static constexpr std::int32_t open = 1;  // `end` while the stream has not ended
  std::uint16_t head = none;
  std::uint16_t tail = none;
  std::uint32_t offset = 0;  // bytes of `head` already read
  std::size_t queued = 0;    // bytes queued
  std::int32_t end = open;   // 0: end of stream; -errno: the error that ended the receive
  bool armed = false;        // a multishot receive is with the kernel
  bool cancelling = false;   // and it was asked to stop (socket_cap)
  bool dry = false;          // the last one ended for want of buffers: next read goes direct
};

class received_buffers {
 public:
  static constexpr std::size_t socket_cap = 64 * 1024;

  // Empty until attach(): every read is then a plain request.
  received_buffers() = default;
  void attach(io_uring_buffer_ring& ring);
  bool available() const noexcept { return enabled_; }
  // The kernel refused a multishot receive (EINVAL before 6.0): receive directly from now on.
  void disable() noexcept { enabled_ = false; }

  // Inline, like copy_to's common case: both run once per message in the engine's hot path.
  void append(receive_queue& q, std::uint16_t id, std::size_t length) noexcept {
    filled_[id] = {static_cast<std::uint32_t>(length), receive_queue::none};
    if (q.tail == receive_queue::none) {
      q.head = id;
    } else {
      filled_[q.tail].next = id;
    }
    q.tail = id;
    q.queued += length;
    ++held_;
  }

  // The common case (one buffer queued, read whole: a request-response peer) is a memcpy and
  // the buffer's return; the rest goes through the loop.
  std::size_t copy_to(receive_queue& q, std::span<std::byte> dst) noexcept {
    const std::uint16_t id = q.head;
    if (id == receive_queue::none) return 0;
    const std::size_t n = filled_[id].length - q.offset;
    if (id != q.tail || n > dst.size()) return copy_some(q, dst);
    std::memcpy(dst.data(), base_ + id * io_uring_buffer_ring::buffer_size + q.offset, n);
    q.head = q.tail = receive_queue::none;
    q.offset = 0;
    q.queued = 0;
    dequeue(id);
    return n;
  }

  // A filled buffer read whole before it was queued (a reader was waiting): copied, given back.
  void copy_out(std::uint16_t id, std::size_t length, std::byte* dst) noexcept {
    std::memcpy(dst, base_ + id * io_uring_buffer_ring::buffer_size, length);
    ring_->release(id);
  }

  // A filled buffer that is not queued (a late or empty completion) goes straight back.
  void release(std::uint16_t id) noexcept { ring_->release(id); }
  void release_all(receive_queue& q) noexcept;
  // Buffers queued on sockets now (what the tests check for leaks and for socket_cap).
  std::size_t held() const noexcept { return held_; }

 private:
  struct filled {
    std::uint32_t length;  // bytes the kernel put there
    std::uint16_t next;    // the next buffer queued on the same socket
  };

  std::size_t copy_some(receive_queue& q, std::span<std::byte> dst) noexcept;
  void dequeue(std::uint16_t id) noexcept {
    ring_->release(id);
    --held_;
  }

  io_uring_buffer_ring* ring_ = nullptr;
  std::byte* base_ = nullptr;
  filled* filled_ = nullptr;  // per buffer, in storage_
  bool enabled_ = false;
  std::vector<filled> storage_;
  std::size_t held_ = 0;
};

}  // namespace corio::detail
