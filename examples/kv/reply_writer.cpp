#include "reply_writer.hpp"

#include <algorithm>
#include <charconv>

namespace kv {

namespace {

void append_number(std::string& out, char type, std::int64_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.push_back(type);
  out.append(digits, end);
  out.append("\r\n");
}

}  // namespace

void reply_writer::simple(std::string_view text) {
  head_.push_back('+');
  head_.append(text);
  head_.append("\r\n");
}

void reply_writer::error(std::string_view text) {
  head_.push_back('-');
  const std::size_t from = head_.size();
  head_.append(text);
  // A line break inside would end the error early and desynchronise the client.
  std::replace_if(head_.begin() + static_cast<std::ptrdiff_t>(from), head_.end(),
                  [](char c) { return c == '\r' || c == '\n'; }, ' ');
  head_.append("\r\n");
}

void reply_writer::integer(std::int64_t n) { append_number(head_, ':', n); }

void reply_writer::bulk(std::string_view bytes) {
  append_number(head_, '$', static_cast<std::int64_t>(bytes.size()));
  head_.append(bytes);
  head_.append("\r\n");
}

void reply_writer::bulk(const value_ptr& value) {
  if (!value) return null_bulk();
  if (value->size() <= copy_limit) return bulk(std::string_view(*value));
  append_number(head_, '$', static_cast<std::int64_t>(value->size()));
  refs_.push_back({head_.size(), value});
  ref_bytes_ += value->size();
  head_.append("\r\n");
}

void reply_writer::null_bulk() { head_.append("$-1\r\n"); }

void reply_writer::array(std::size_t n) {
  append_number(head_, '*', static_cast<std::int64_t>(n));
}

std::string_view reply_writer::piece(std::size_t index) const noexcept {
  const std::size_t k = index / 2;
  if (index % 2 == 1) return *refs_[k].value;
  const std::size_t from = k == 0 ? 0 : refs_[k - 1].offset;
  const std::size_t to = k < refs_.size() ? refs_[k].offset : head_.size();
  return std::string_view(head_).substr(from, to - from);
}

std::string_view reply_writer::next_chunk() {
  staging_.clear();
  const std::size_t pieces = refs_.size() * 2 + 1;
  while (cursor_ < pieces) {
    const std::string_view rest = piece(cursor_).substr(cursor_pos_);
    const bool last = cursor_ + 1 == pieces;
    if (staging_.empty() && (rest.size() >= staging_size / 4 || last)) {
      // Big, or nothing left to coalesce with: hand it out as it is, without a copy.
      ++cursor_;
      cursor_pos_ = 0;
      if (rest.empty()) continue;
      return rest;
    }
    const std::size_t room = staging_size - staging_.size();
    if (rest.size() > room) {
      if (staging_.size() >= staging_size / 4) break;  // enough for one write
      staging_.append(rest.substr(0, room));
      cursor_pos_ += room;
      break;
    }
    staging_.append(rest);
    ++cursor_;
    cursor_pos_ = 0;
  }
  return staging_;
}

void reply_writer::clear() noexcept {
  refs_.clear();
  ref_bytes_ = 0;
  cursor_ = 0;
  cursor_pos_ = 0;
  staging_.clear();
  head_.clear();
  // After a big reply, an idle connection should not keep its buffers.
  constexpr std::size_t keep = 64 * 1024;
  if (head_.capacity() > keep) std::string().swap(head_);
  if (refs_.capacity() > keep / sizeof(ref)) std::vector<ref>().swap(refs_);
  if (staging_.capacity() > staging_size) std::string().swap(staging_);
}

}  // namespace kv
