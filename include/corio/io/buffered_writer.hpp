// A buffered writer over any stream with write_all: small writes gather in a buffer, and a
// write that does not fit goes out together with what is buffered in one vectored system call
// (write_all_vectored), never copied through the buffer.
//
//   corio::buffered_writer out(stream);          // 8 KiB, allocated once, here
//   co_await out.write(header);                  // buffered, no system call
//   co_await out.write(body);                    // large: header and body in one sendmsg
//   co_await out.flush();                        // what is still buffered
//
// Contracts and sharp edges:
// - Nothing is sent until the buffer would overflow, flush(), or write_vectored(): flush before
//   waiting for a reply. The destructor does not flush (it cannot await).
// - A failed or cancelled send returns its error and clears the buffer: part of it may have
//   gone out, so the stream position is unknown (as with write_all); end the connection.
// - One task writes at a time. The stream must outlive the writer.
// - Allocation: the buffer once; each call is a pool frame.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include <corio/error.hpp>
#include <corio/io/vectored.hpp>
#include <corio/task.hpp>

namespace corio {

template <class Stream>
class buffered_writer {
 public:
  static constexpr std::size_t default_capacity = 8192;

  explicit buffered_writer(Stream& stream, std::size_t capacity = default_capacity)
      : stream_(&stream),
        capacity_(std::max<std::size_t>(capacity, 1)),
        buffer_(std::make_unique<std::byte[]>(capacity_)) {}

  // Buffers `data`, or sends the buffer and `data` together when it does not fit.
  task<result<void>> write(std::span<const std::byte> data) {
    if (data.size() <= capacity_ - size_) {
      if (!data.empty()) std::memcpy(buffer_.get() + size_, data.data(), data.size());
      size_ += data.size();
      co_return result<void>();
    }
    const std::array<std::span<const std::byte>, 2> parts{pending(), data};
    co_return co_await send(parts);
  }
  task<result<void>> write(std::string_view text) {
    co_return co_await write(std::as_bytes(std::span(text.data(), text.size())));
  }

  // Sends the buffer and every part in one vectored write (up to 63 parts per system call).
  task<result<void>> write_vectored(std::span<const std::span<const std::byte>> parts) {
    std::array<std::span<const std::byte>, 64> all;
    std::size_t k = 0;
    all[k++] = pending();
    for (auto p : parts) {
      if (k == all.size()) {
        if (auto r = co_await send(std::span(all).first(k)); !r) co_return r;
        k = 0;
      }
      all[k++] = p;
    }
    co_return co_await send(std::span(all).first(k));
  }

  task<result<void>> flush() {
    if (size_ == 0) co_return result<void>();
    const std::array<std::span<const std::byte>, 1> parts{pending()};
    co_return co_await send(parts);
  }

  std::span<const std::byte> pending() const noexcept { return {buffer_.get(), size_}; }
  std::size_t capacity() const noexcept { return capacity_; }
  Stream& stream() noexcept { return *stream_; }

 private:
  task<result<void>> send(std::span<const std::span<const std::byte>> parts) {
    auto r = co_await write_all_vectored(*stream_, parts);
    size_ = 0;  // sent, or (see the top) the position is unknown
    co_return r;
  }

  Stream* stream_;
  std::size_t capacity_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t size_ = 0;
};

}  // namespace corio
