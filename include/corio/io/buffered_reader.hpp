// A buffered reader over any stream with `read(span) → result<size_t>` (tcp_stream,
// unix_stream, a read_half, a TLS stream): lines and delimited records with a length limit, and
// exact reads, with few system calls.
//
//   corio::buffered_reader in(stream);                  // 8 KiB, allocated once, here
//   while (auto line = co_await in.read_line(1024)) {   // result<std::string_view>, no "\n"
//     handle(*line);                                    // valid until the next call on `in`
//   }
//
// Contracts and sharp edges:
// - What read_until / read_line return points into the reader's buffer: it is valid until the
//   next call on the reader. Copy what you keep.
// - Limits: a record longer than `max` (or than the buffer's capacity, whichever is smaller)
//   fails with stream_error::line_too_long after reading at most that many bytes. Nothing is
//   lost: the bytes stay buffered (buffered()), and consume(n) drops them, e.g. to skip the
//   rest of a bad line.
// - End of stream: with nothing buffered it is error::end_of_stream; inside a record it is
//   stream_error::incomplete_line, the partial record staying in buffered().
// - Errors of the stream (reset, operation_canceled) are passed on; what was buffered stays.
//   A cancelled read_until loses nothing: the bytes it read are in the buffer.
// - One task reads at a time. The stream must outlive the reader; the reader does not close it.
// - Allocation: the buffer once, at construction. A read_line or read_until that the buffer
//   answers costs no frame; one that reads from the stream is a coroutine frame from the
//   thread's frame pool.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <corio/error.hpp>
#include <corio/io/stream_error.hpp>
#include <corio/task.hpp>

namespace corio {

template <class Stream>
class buffered_reader {
 public:
  static constexpr std::size_t default_capacity = 8192;

  explicit buffered_reader(Stream& stream, std::size_t capacity = default_capacity)
      : stream_(&stream),
        capacity_(std::max<std::size_t>(capacity, 1)),
        buffer_(std::make_unique<std::byte[]>(capacity_)) {}

  // A record (read_until) or a line (read_line). When the buffer already decides it (the
  // delimiter is there, or the limit is reached), it completes in await_ready: no coroutine
  // frame, and no symmetric transfer whose stack a sanitizer build would not give back (a
  // loop over thousands of buffered lines). Otherwise it awaits the reading coroutine.
  template <class Result>
  class [[nodiscard]] record_awaiter {
   public:
    record_awaiter(buffered_reader& r, std::byte delim, std::size_t max) noexcept
        : reader_(&r), delim_(delim), max_(max) {}

    bool await_ready() {
      decided_ = reader_->buffered_record(delim_, max_);
      return decided_.has_value();
    }
    template <class Promise>
    auto await_suspend(std::coroutine_handle<Promise> h) {
      reading_.emplace(reader_->read_until_slow(delim_, max_));
      awaiter_.emplace(reading_->operator co_await());
      return awaiter_->await_suspend(h);
    }
    Result await_resume() {
      auto r = decided_ ? std::move(*decided_) : awaiter_->await_resume();
      if constexpr (std::is_same_v<Result, result<std::string_view>>) {
        if (!r) return r.error();
        std::string_view line(reinterpret_cast<const char*>(r->data()), r->size() - 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return line;
      } else {
        return r;
      }
    }

   private:
    using record = result<std::span<const std::byte>>;
    buffered_reader* reader_;
    std::byte delim_;
    std::size_t max_;
    std::optional<record> decided_;
    std::optional<task<record>> reading_;
    std::optional<decltype(std::declval<task<record>&>().operator co_await())> awaiter_;
  };

  // Bytes up to and including the first `delim`, at most `max` of them:
  // result<std::span<const std::byte>>.
  record_awaiter<result<std::span<const std::byte>>> read_until(std::byte delim, std::size_t max) {
    return {*this, delim, max};
  }

  // A line without its "\n" (and without a "\r" before it), at most `max` bytes with them:
  // result<std::string_view>.
  record_awaiter<result<std::string_view>> read_line(std::size_t max) {
    return {*this, std::byte{'\n'}, max};
  }

  // Fills `dst` from the buffer, then from the stream; end of stream first is
  // error::end_of_stream (what was read stays in dst, the count is lost: see tcp.hpp).
  task<result<void>> read_exact(std::span<std::byte> dst) {
    release_last();
    const std::size_t from_buffer = take(dst);
    if (from_buffer == dst.size()) co_return result<void>();
    co_return co_await stream_->read_exact(dst.subspan(from_buffer));
  }

  // Some bytes: buffered ones first, else one read of the stream. 0 means end of stream.
  task<result<std::size_t>> read(std::span<std::byte> dst) {
    release_last();
    if (end_ > begin_ || dst.empty()) co_return take(dst);
    if (dst.size() >= capacity_) co_return co_await stream_->read(dst);  // no copy
    if (auto r = co_await fill(); !r) {
      if (r.error() == error::end_of_stream) co_return std::size_t{0};
      co_return r.error();
    }
    co_return take(dst);
  }

  // What is buffered and not yet returned (after the record returned last).
  std::span<const std::byte> buffered() const noexcept {
    return {buffer_.get() + begin_ + last_, end_ - begin_ - last_};
  }
  // Drops n buffered bytes (at most buffered().size()).
  void consume(std::size_t n) noexcept {
    release_last();
    begin_ += std::min(n, end_ - begin_);
  }
  std::size_t capacity() const noexcept { return capacity_; }
  Stream& stream() noexcept { return *stream_; }

 private:
  // The record returned last is the caller's until this call: now it can go.
  void release_last() noexcept {
    begin_ += last_;
    last_ = 0;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  std::size_t take(std::span<std::byte> dst) noexcept {
    const std::size_t n = std::min(dst.size(), end_ - begin_);
    if (n > 0) std::memcpy(dst.data(), buffer_.get() + begin_, n);
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
    return n;
  }

  // The record if the buffer decides it (found, or over the limit); nullopt when it needs input.
  std::optional<result<std::span<const std::byte>>> buffered_record(std::byte delim,
                                                                    std::size_t max) noexcept {
    release_last();
    const std::size_t limit = std::min(max, capacity_);
    const std::size_t size = end_ - begin_;
    const std::size_t searchable = std::min(size, limit);
    std::byte* start = buffer_.get() + begin_;
    if (auto* hit = static_cast<std::byte*>(
            std::memchr(start, std::to_integer<int>(delim), searchable))) {
      last_ = static_cast<std::size_t>(hit - start) + 1;
      return std::span<const std::byte>(start, last_);
    }
    if (size >= limit) return make_error_code(stream_error::line_too_long);
    return std::nullopt;
  }

  // read_until when the buffer does not hold the answer: reads until it does.
  task<result<std::span<const std::byte>>> read_until_slow(std::byte delim, std::size_t max) {
    release_last();
    const std::size_t limit = std::min(max, capacity_);
    std::size_t scanned = 0;  // bytes already searched for delim
    for (;;) {
      const std::size_t size = end_ - begin_;
      const std::size_t searchable = std::min(size, limit);
      std::byte* start = buffer_.get() + begin_;
      if (auto* hit = static_cast<std::byte*>(
              std::memchr(start + scanned, std::to_integer<int>(delim), searchable - scanned))) {
        last_ = static_cast<std::size_t>(hit - start) + 1;
        co_return std::span<const std::byte>(start, last_);
      }
      scanned = searchable;
      if (size >= limit) co_return make_error_code(stream_error::line_too_long);
      if (auto r = co_await fill(); !r) {
        if (r.error() == error::end_of_stream && end_ > begin_) {
          co_return make_error_code(stream_error::incomplete_line);
        }
        co_return r.error();
      }
    }
  }

  // One read of the stream into the free space (moving what is buffered to the front first
  // when the end is full); end of stream is error::end_of_stream.
  task<result<void>> fill() {
    if (end_ == capacity_ && begin_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    auto n = co_await stream_->read(std::span(buffer_.get() + end_, capacity_ - end_));
    if (!n) co_return n.error();
    if (*n == 0) co_return error::end_of_stream;
    end_ += *n;
    co_return result<void>();
  }

  Stream* stream_;
  std::size_t capacity_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t begin_ = 0;  // first buffered byte
  std::size_t end_ = 0;    // one past the last
  std::size_t last_ = 0;   // length of the record returned last, still at begin_
};

}  // namespace corio
