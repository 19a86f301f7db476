#include "response.hpp"

#include <array>
#include <charconv>
#include <ctime>

namespace http {
namespace {

void append_number(std::string& out, std::uint64_t n) {
  std::array<char, 24> digits;
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr;
  out.append(digits.data(), end);
}

// The Date field changes once a second; formatting it per response would cost more than the
// rest of the head. One cache per thread, so workers share nothing.
std::string_view http_date() {
  thread_local std::time_t cached_second = -1;
  thread_local std::array<char, 40> text;
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    length = std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return {text.data(), length};
}

}  // namespace

void append_head(std::string& out, const response_head& head) {
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::uint16_t>(head.code));
  out += ' ';
  out += reason(head.code);
  out += "\r\nServer: corio\r\nDate: ";
  out += http_date();
  if (!head.content_type.empty()) {
    out += "\r\nContent-Type: ";
    out += head.content_type;
  }
  out += "\r\nContent-Length: ";
  append_number(out, head.content_length);
  if (!head.allow.empty()) {
    out += "\r\nAllow: ";
    out += head.allow;
  }
  if (!head.keep_alive) {
    out += "\r\nConnection: close";
  } else if (head.request_minor == 0) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n\r\n";
}

void append_response(std::string& out, const response_head& head, std::string_view body,
                     bool head_only) {
  response_head h = head;
  h.content_length = body.size();
  append_head(out, h);
  if (!head_only) out += body;
}

void append_error(std::string& out, status code, unsigned request_minor) {
  response_head h;
  h.code = code;
  h.content_type = "text/plain";
  h.keep_alive = false;
  h.request_minor = request_minor;
  const auto text = reason(code);
  h.content_length = text.size() + 1;
  append_head(out, h);
  out += text;
  out += '\n';
}

void append_continue(std::string& out) { out += "HTTP/1.1 100 Continue\r\n\r\n"; }

}  // namespace http
