// A stream's read and write halves, for one reader task and one writer task.
//
//   auto [rx, tx] = corio::split(stream);
//   spawn(pump_in(rx));  spawn(pump_out(tx));          // both on this thread
//
// The halves are references: the stream must outlive them and stay on its thread (tcp.hpp's
// rule). It allows one pending read and one pending write at a time, each direction waiting on
// its own side of the socket's registration, so the halves never contend; a second concurrent
// reader (or writer) gets device_or_resource_busy, as on the stream itself.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include <corio/error.hpp>

namespace corio {

template <class Stream>
class read_half {
 public:
  explicit read_half(Stream& s) noexcept : stream_(&s) {}
  auto read(std::span<std::byte> buf) noexcept { return stream_->read(buf); }
  auto read_exact(std::span<std::byte> buf) noexcept { return stream_->read_exact(buf); }
  Stream& stream() noexcept { return *stream_; }

 private:
  Stream* stream_;
};

template <class Stream>
class write_half {
 public:
  explicit write_half(Stream& s) noexcept : stream_(&s) {}
  auto write(std::span<const std::byte> buf) noexcept { return stream_->write(buf); }
  auto write_all(std::span<const std::byte> buf) noexcept { return stream_->write_all(buf); }
  result<void> shutdown_write() { return stream_->shutdown_write(); }
  Stream& stream() noexcept { return *stream_; }

 private:
  Stream* stream_;
};

template <class Stream>
std::pair<read_half<Stream>, write_half<Stream>> split(Stream& s) noexcept {
  return {read_half<Stream>(s), write_half<Stream>(s)};
}

}  // namespace corio
