#include "resp_parser.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "number.hpp"

namespace kv {

namespace {

// Per argument, on top of its bytes, toward max_request: a million empty arguments are not free.
constexpr std::size_t argument_overhead = sizeof(std::string);

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char unescape(char c) noexcept {
  switch (c) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'a': return '\a';
    default: return c;
  }
}

// One double-quoted token, `p` just past the opening quote. Returns false if unbalanced.
// A closing quote must end the token (be followed by a space or the end), as in Redis.
bool read_double_quoted(std::string_view line, std::size_t& p, std::string& out) {
  while (p < line.size()) {
    const char c = line[p];
    if (c == '\\' && p + 3 < line.size() && line[p + 1] == 'x' && hex_value(line[p + 2]) >= 0 &&
        hex_value(line[p + 3]) >= 0) {
      out.push_back(static_cast<char>(hex_value(line[p + 2]) * 16 + hex_value(line[p + 3])));
      p += 4;
    } else if (c == '\\' && p + 1 < line.size()) {
      out.push_back(unescape(line[p + 1]));
      p += 2;
    } else if (c == '"') {
      ++p;
      return p == line.size() || is_space(line[p]);
    } else {
      out.push_back(c);
      ++p;
    }
  }
  return false;
}

bool read_single_quoted(std::string_view line, std::size_t& p, std::string& out) {
  while (p < line.size()) {
    const char c = line[p];
    if (c == '\\' && p + 1 < line.size() && line[p + 1] == '\'') {
      out.push_back('\'');
      p += 2;
    } else if (c == '\'') {
      ++p;
      return p == line.size() || is_space(line[p]);
    } else {
      out.push_back(c);
      ++p;
    }
  }
  return false;
}

}  // namespace

request_parser::step request_parser::fail(std::string message) {
  failed_ = true;
  error_ = std::move(message);
  argc_ = 0;
  return step::error;
}

std::string& request_parser::next_arg() {
  if (argc_ == args_.size()) args_.emplace_back();
  std::string& arg = args_[argc_++];
  arg.clear();
  return arg;
}

void request_parser::trim() noexcept {
  constexpr std::size_t keep_args = 64;
  constexpr std::size_t keep_bytes = 4096;
  if (args_.size() > keep_args && argc_ <= keep_args) {
    args_.resize(keep_args);
    args_.shrink_to_fit();
  }
  for (std::size_t i = argc_; i < args_.size(); ++i) {
    if (args_[i].capacity() > keep_bytes) std::string().swap(args_[i]);
  }
}

std::size_t request_parser::find_terminator(std::string_view input, char terminator) {
  // A terminator further than max_line would end a line that is too long anyway.
  const std::size_t limit = std::min(input.size(), limits_.max_line + 1);
  if (scanned_ < limit) {
    const void* hit = std::memchr(input.data() + scanned_, terminator, limit - scanned_);
    if (hit != nullptr) {
      scanned_ = static_cast<std::size_t>(static_cast<const char*>(hit) - input.data());
      return scanned_;
    }
    scanned_ = limit;  // a line that trickles in byte by byte is still searched once
  }
  return std::string_view::npos;
}

request_parser::step request_parser::parse_inline(std::string_view& input) {
  const std::size_t end = find_terminator(input, '\n');
  if (end == std::string_view::npos) {
    if (input.size() > limits_.max_line) return fail("Protocol error: too big inline request");
    return step::need_more;
  }
  std::string_view line = input.substr(0, end);
  input.remove_prefix(end + 1);
  scanned_ = 0;
  state_ = state::start;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  std::size_t p = 0;
  while (true) {
    while (p < line.size() && is_space(line[p])) ++p;
    if (p == line.size()) break;
    if (argc_ == limits_.max_args) return fail("Protocol error: invalid multibulk length");
    std::string& arg = next_arg();
    // Quotes may open anywhere in a token ("a"b" is not a"b), as in Redis's sdssplitargs.
    while (p < line.size() && !is_space(line[p])) {
      const char c = line[p++];
      bool closed = true;
      if (c == '"') {
        closed = read_double_quoted(line, p, arg);
      } else if (c == '\'') {
        closed = read_single_quoted(line, p, arg);
      } else {
        arg.push_back(c);
        continue;
      }
      if (!closed) return fail("Protocol error: unbalanced quotes in request");
      break;  // a closing quote ends the token
    }
  }
  return argc_ == 0 ? step::advanced : step::request;
}

request_parser::step request_parser::parse_count(std::string_view& input) {
  const std::size_t end = find_terminator(input, '\r');
  // The count line must also have the byte after '\r' (not checked, like Redis).
  if (end == std::string_view::npos || end + 1 >= input.size()) {
    if (end == std::string_view::npos && input.size() > limits_.max_line) {
      return fail("Protocol error: too big mbulk count string");
    }
    return step::need_more;
  }
  const auto count = parse_int64(input.substr(1, end - 1));
  if (!count || *count > static_cast<std::int64_t>(limits_.max_args)) {
    return fail("Protocol error: invalid multibulk length");
  }
  input.remove_prefix(end + 2);
  scanned_ = 0;
  if (*count <= 0) {
    state_ = state::start;  // "*0" and "*-1" are no request at all
  } else {
    expected_args_ = static_cast<std::size_t>(*count);
    state_ = state::bulk_line;
  }
  return step::advanced;
}

request_parser::step request_parser::parse_bulk_header(std::string_view& input) {
  const std::size_t end = find_terminator(input, '\r');
  if (end == std::string_view::npos || end + 1 >= input.size()) {
    if (end == std::string_view::npos && input.size() > limits_.max_line) {
      return fail("Protocol error: too big bulk count string");
    }
    return step::need_more;
  }
  if (input.front() != '$') {
    return fail(std::string("Protocol error: expected '$', got '") + input.front() + "'");
  }
  const auto length = parse_int64(input.substr(1, end - 1));
  if (!length || *length < 0 || static_cast<std::uint64_t>(*length) > limits_.max_bulk) {
    return fail("Protocol error: invalid bulk length");
  }
  payload_left_ = static_cast<std::size_t>(*length);
  request_bytes_ += payload_left_ + argument_overhead;
  if (request_bytes_ > limits_.max_request) return fail({});
  input.remove_prefix(end + 2);
  scanned_ = 0;
  next_arg();
  state_ = state::payload;
  return step::advanced;
}

request_parser::step request_parser::consume_payload(std::string_view& input) {
  const std::size_t take = std::min(payload_left_, input.size());
  if (state_ == state::payload) {
    // Grows with what arrived, never to the announced length up front.
    args_[argc_ - 1].append(input.data(), take);
  }
  input.remove_prefix(take);
  payload_left_ -= take;
  if (payload_left_ != 0) return step::need_more;
  if (state_ == state::payload) {
    payload_left_ = 2;  // the "\r\n" after the payload (skipped unchecked, like Redis)
    state_ = state::payload_end;
    return step::advanced;
  }
  if (argc_ < expected_args_) {
    state_ = state::bulk_line;
    return step::advanced;
  }
  state_ = state::start;
  return step::request;
}

request_parser::status request_parser::parse(std::string_view& input) {
  if (failed_) return status::error;
  while (true) {
    step s = step::advanced;
    switch (state_) {
      case state::start:
        if (input.empty()) return status::need_more;
        argc_ = 0;
        request_bytes_ = 0;
        scanned_ = 0;
        state_ = input.front() == '*' ? state::count_line : state::inline_line;
        continue;
      case state::inline_line: s = parse_inline(input); break;
      case state::count_line: s = parse_count(input); break;
      case state::bulk_line: s = parse_bulk_header(input); break;
      case state::payload:
      case state::payload_end:
        if (input.empty()) return status::need_more;
        s = consume_payload(input);
        break;
    }
    switch (s) {
      case step::advanced: continue;
      case step::need_more: return status::need_more;
      case step::request: return status::request;
      case step::error: return status::error;
    }
  }
}

}  // namespace kv
