// Cuts a byte stream into lines ending in LF or CRLF, with a bound on a line's length so one
// client cannot make the server buffer without limit.
//
//   chat::line_splitter lines(1024);
//   lines.append(bytes_just_read);
//   while (auto line = lines.next()) handle(*line);   // without its LF / CRLF
//   if (lines.too_long()) { ... }                      // the client broke the limit: hang up
//   at end of stream: if (auto last = lines.rest()) handle(*last);   // an unterminated line
//
// The views handed out stay valid until the next append().
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace chat {

class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line) noexcept : max_line_(max_line) {}

  void append(std::span<const std::byte> bytes);

  // The next complete line, or nothing until more bytes arrive (or the limit was broken).
  std::optional<std::string_view> next();

  // True once a line longer than the limit was seen; no more lines come out after that.
  bool too_long() const noexcept { return too_long_; }

  // At end of stream: what follows the last line terminator, if anything.
  std::optional<std::string_view> rest();

 private:
  std::string buffer_;
  std::size_t start_ = 0;    // where the first unconsumed line begins in buffer_
  std::size_t scanned_ = 0;  // bytes of buffer_ known to hold no LF, from start_ on
  std::size_t max_line_;
  bool too_long_ = false;
};

}  // namespace chat
