#include "line_splitter.hpp"

namespace chat {

namespace {

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

void line_splitter::append(std::span<const std::byte> bytes) {
  // Consumed lines are dropped only here, so the views next() handed out stay valid until now;
  // the buffer then holds at most one partial line plus one read.
  buffer_.erase(0, start_);
  scanned_ -= start_;
  start_ = 0;
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::optional<std::string_view> line_splitter::next() {
  if (too_long_) return std::nullopt;
  const std::string_view pending = std::string_view(buffer_).substr(start_);
  const std::size_t lf = pending.find('\n', scanned_ - start_);
  if (lf == std::string_view::npos) {
    scanned_ = buffer_.size();
    // One byte of slack for the CR of a CRLF that has not arrived yet.
    too_long_ = pending.size() > max_line_ + 1;
    return std::nullopt;
  }
  const std::string_view line = without_cr(pending.substr(0, lf));
  start_ += lf + 1;
  scanned_ = start_;
  if (line.size() > max_line_) {
    too_long_ = true;
    return std::nullopt;
  }
  return line;
}

std::optional<std::string_view> line_splitter::rest() {
  if (too_long_ || start_ == buffer_.size()) return std::nullopt;
  const std::string_view line = without_cr(std::string_view(buffer_).substr(start_));
  start_ = buffer_.size();
  scanned_ = start_;
  if (line.size() > max_line_) {
    too_long_ = true;
    return std::nullopt;
  }
  return line;
}

}  // namespace chat
