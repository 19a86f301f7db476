#include "request_parser.hpp"

#include <algorithm>
#include <cstring>

namespace http {
namespace {

// RFC 9110 tchar: what a method or a field name may be made of.
bool is_tchar(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// Field values: visible bytes, obs-text, SP and HTAB; no other control byte (a CR here would be
// a bare CR, which some peers treat as a line end).
bool is_field_value(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// Calls f(element) for each non-empty element of a comma-separated list, trimmed.
template <class F>
void for_each_element(std::string_view list, F f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto element = trim(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// The line at `pos` (without its CRLF), moving `pos` past it. The head scan already proved
// that every LF is preceded by CR.
std::string_view take_line(std::string_view head, std::size_t& pos) noexcept {
  const auto lf = head.find('\n', pos);
  const auto line = head.substr(pos, lf - 1 - pos);
  pos = lf + 1;
  return line;
}

std::string_view path_of(std::string_view target) noexcept {
  if (target.front() != '/') {
    // absolute-form: a server must accept it (RFC 9112 3.2.2); the path starts after authority.
    const auto scheme = target.find("://");
    if (scheme == std::string_view::npos) return {};  // asterisk- or authority-form
    target.remove_prefix(scheme + 3);
    const auto slash = target.find_first_of("/?");
    if (slash == std::string_view::npos || target[slash] == '?') return "/";
    target.remove_prefix(slash);
  }
  return target.substr(0, target.find('?'));
}

method method_of(std::string_view m) noexcept {
  if (m == "GET") return method::get;
  if (m == "HEAD") return method::head;
  if (m == "POST") return method::post;
  return method::other;
}

// 1*DIGIT, at most 19 significant digits so the value fits in 64 bits.
bool parse_length(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  std::size_t significant = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    if (v != 0 || c != '0') ++significant;
    if (significant > 19) return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}


}  // namespace

step request_parser::next(std::string_view data) noexcept {
  switch (state_) {
    case state::head:
      return head(data);
    case state::length_body: {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
      if (n == 0) return {};
      remaining_ -= n;
      if (remaining_ == 0) state_ = state::complete;
      return {event::body, n, data.substr(0, n), status::ok};
    }
    case state::complete:
      state_ = state::head;
      scanned_ = line_start_ = head_start_ = 0;
      return {event::complete, 0, {}, status::ok};
    case state::failed:
      return {event::error, 0, {}, error_};
    default:
      return chunked(data);
  }
}

step request_parser::fail(status s, std::size_t consumed) noexcept {
  state_ = state::failed;
  error_ = s;
  return {event::error, consumed, {}, s};
}

step request_parser::head(std::string_view data) noexcept {
  // Only the first max_head bytes can belong to an acceptable head.
  const std::size_t limit = std::min(data.size(), limits_.max_head);
  std::size_t i = scanned_;
  while (i < limit) {
    const void* found = std::memchr(data.data() + i, '\n', limit - i);
    if (found == nullptr) break;
    const auto lf = static_cast<std::size_t>(static_cast<const char*>(found) - data.data());
    if (lf == line_start_ || data[lf - 1] != '\r') return fail(status::bad_request);  // bare LF
    i = lf + 1;
    if (lf - 1 != line_start_) {
      // The request line is judged as soon as it ends, not with the head: a line the server
      // will refuse anyway (an HTTP/0.9 "GET /", garbage) is answered now instead of after the
      // head timeout, since such a client never sends the blank line that ends a head.
      if (line_start_ == head_start_) {
        const status s = parse_request_line(data.substr(line_start_, lf - 1 - line_start_));
        if (s != status::ok) return fail(s);
      }
      line_start_ = i;
      continue;
    }
    if (line_start_ == head_start_) {  // an empty line before the request line: skipped
      line_start_ = head_start_ = i;
      continue;
    }
    const status s = parse_head(data.substr(head_start_, i - head_start_));
    if (s != status::ok) return fail(s);
    start_body();
    return {event::head, i, {}, status::ok};
  }
  scanned_ = limit;
  if (data.size() >= limits_.max_head) return fail(status::header_fields_too_large);
  return {};
}

status request_parser::parse_head(std::string_view head) noexcept {
  request_ = request{};
  std::size_t pos = 0;
  if (const status s = parse_request_line(take_line(head, pos)); s != status::ok) return s;
  seen_fields seen;
  std::size_t count = 0;
  while (true) {
    const auto field = take_line(head, pos);
    if (field.empty()) break;
    if (++count > limits_.max_headers) return status::header_fields_too_large;
    const auto colon = field.find(':');
    // A name must be a token: this refuses obs-fold (leading whitespace), whitespace before
    // the colon and empty names, which proxies disagree about.
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) {
      return status::bad_request;
    }
    const auto value = trim(field.substr(colon + 1));
    if (!is_field_value(value)) return status::bad_request;
    if (const status s = parse_field(field.substr(0, colon), value, seen); s != status::ok) {
      return s;
    }
  }
  if (request_.minor == 1 ? seen.hosts != 1 : seen.hosts > 1) return status::bad_request;
  // Both framings, or chunked from a 1.0 peer that cannot mean it: the body's end would be
  // ambiguous (request smuggling), so refuse rather than pick one.
  if (seen.transfer_encoding && (seen.content_length || request_.minor == 0)) {
    return status::bad_request;
  }
  request_.keep_alive = !seen.close && (request_.minor == 1 || seen.keep_alive);
  request_.expect_continue = request_.expect_continue && request_.minor == 1;
  if (seen.content_length) {
    if (request_.content_length > limits_.max_body) return status::content_too_large;
    request_.body = request_.content_length > 0 ? framing::length : framing::none;
  }
  return status::ok;
}

status request_parser::parse_request_line(std::string_view line) noexcept {
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return status::bad_request;
  const auto rest = line.substr(sp1 + 1);
  const auto sp2 = rest.find(' ');
  // Also HTTP/0.9's "GET /": without a version it is not an HTTP/1.x request line.
  if (sp2 == std::string_view::npos) return status::bad_request;
  request_.method_text = line.substr(0, sp1);
  request_.target = rest.substr(0, sp2);
  const auto version = rest.substr(sp2 + 1);
  if (!is_token(request_.method_text) || request_.target.empty()) return status::bad_request;
  for (const char c : request_.target) {
    if (c <= ' ' || c >= 0x7f) return status::bad_request;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return status::bad_request;
  }
  if (version[5] != '1') return status::version_not_supported;
  request_.minor = version[7] == '0' ? 0 : 1;
  request_.verb = method_of(request_.method_text);
  request_.path = path_of(request_.target);
  return status::ok;
}

status request_parser::parse_field(std::string_view name, std::string_view value,
                                   seen_fields& seen) noexcept {
  if (iequals(name, "content-length")) {
    std::uint64_t length = 0;
    if (!parse_length(value, length)) return status::bad_request;
    if (seen.content_length && length != request_.content_length) return status::bad_request;
    seen.content_length = true;
    request_.content_length = length;
  } else if (iequals(name, "transfer-encoding")) {
    if (seen.transfer_encoding) return status::bad_request;
    seen.transfer_encoding = true;
    std::size_t codings = 0;
    bool chunked_early = false, chunked_last = false;
    for_each_element(value, [&](std::string_view coding) {
      chunked_early = chunked_early || chunked_last;
      chunked_last = iequals(coding, "chunked");
      ++codings;
    });
    // Chunked must come last and once, or the body's end is unknowable (400); other codings
    // in front of it are valid HTTP that this server does not decode (501).
    if (!chunked_last || chunked_early) return status::bad_request;
    if (codings > 1) return status::not_implemented;
    request_.body = framing::chunked;
  } else if (iequals(name, "connection")) {
    for_each_element(value, [&](std::string_view option) {
      seen.close = seen.close || iequals(option, "close");
      seen.keep_alive = seen.keep_alive || iequals(option, "keep-alive");
    });
  } else if (iequals(name, "expect")) {
    request_.expect_continue = iequals(value, "100-continue");
  } else if (iequals(name, "host")) {
    ++seen.hosts;
  }
  return status::ok;
}

void request_parser::start_body() noexcept {
  scanned_ = line_start_ = head_start_ = 0;
  remaining_ = 0;
  total_ = 0;
  line_length_ = 0;
  size_digits_ = false;
  switch (request_.body) {
    case framing::none:
      state_ = state::complete;
      break;
    case framing::length:
      state_ = state::length_body;
      remaining_ = request_.content_length;
      break;
    case framing::chunked:
      state_ = state::chunk_size;
      break;
  }
}

// Chunk framing byte by byte (RFC 9112 7.1): the framing is never buffered, so only the
// counters bound it; the data of a chunk is handed out as slices of the input.
step request_parser::chunked(std::string_view data) noexcept {
  std::size_t i = 0;
  while (i < data.size()) {
    if (state_ == state::chunk_data) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_,
                                                                      data.size() - i));
      remaining_ -= n;
      total_ += n;
      if (remaining_ == 0) state_ = state::chunk_data_cr;
      return {event::body, i + n, data.substr(i, n), status::ok};
    }
    const bool last = frame_byte(data[i++]);
    if (state_ == state::failed) return {event::error, i, {}, error_};
    if (last) {
      state_ = state::head;
      return {event::complete, i, {}, status::ok};
    }
  }
  return {event::need_more, i, {}, status::ok};
}

// One byte of chunk framing (anything but chunk data); true after the last byte of the body.
bool request_parser::frame_byte(char c) noexcept {
  const auto byte = static_cast<unsigned char>(c);
  const bool control = c != '\t' && (byte < 0x20 || byte == 0x7f);
  const auto fail_with = [this](status s) {
    state_ = state::failed;
    error_ = s;
    return false;
  };
  switch (state_) {
    case state::chunk_size:
      if (const int v = hex_value(c); v >= 0) {
        // remaining_ <= max_body here, so this cannot overflow.
        remaining_ = remaining_ * 16 + static_cast<unsigned>(v);
        size_digits_ = true;
        if (total_ + remaining_ > limits_.max_body) return fail_with(status::content_too_large);
      } else if (!size_digits_ || (c != '\r' && c != ';' && !is_ows(c))) {
        return fail_with(status::bad_request);
      } else {
        state_ = c == '\r' ? state::chunk_size_lf : state::chunk_ext;
      }
      break;
    case state::chunk_ext:
      if (c == '\r') {
        state_ = state::chunk_size_lf;
      } else if (control) {
        return fail_with(status::bad_request);
      }
      break;
    case state::chunk_size_lf:
      if (c != '\n') return fail_with(status::bad_request);
      line_length_ = 0;
      size_digits_ = false;
      trailer_empty_line_ = true;
      state_ = remaining_ == 0 ? state::trailer_line : state::chunk_data;
      return false;
    case state::chunk_data_cr:
      if (c != '\r') return fail_with(status::bad_request);
      state_ = state::chunk_data_lf;
      return false;
    case state::chunk_data_lf:
      if (c != '\n') return fail_with(status::bad_request);
      state_ = state::chunk_size;
      return false;
    case state::trailer_line:
      if (c == '\r') {
        state_ = state::trailer_lf;
      } else if (control) {
        return fail_with(status::bad_request);
      } else {
        trailer_empty_line_ = false;
      }
      if (++line_length_ > limits_.max_trailers) {
        return fail_with(status::header_fields_too_large);
      }
      return false;
    case state::trailer_lf:
      if (c != '\n') return fail_with(status::bad_request);
      if (trailer_empty_line_) return true;
      trailer_empty_line_ = true;
      state_ = state::trailer_line;
      return false;
    default:
      return fail_with(status::internal_error);
  }
  // Still on the chunk-size line.
  if (++line_length_ > limits_.max_chunk_line) return fail_with(status::bad_request);
  return false;
}

std::string_view reason(status s) noexcept {
  switch (s) {
    case status::continue_: return "Continue";
    case status::ok: return "OK";
    case status::bad_request: return "Bad Request";
    case status::not_found: return "Not Found";
    case status::method_not_allowed: return "Method Not Allowed";
    case status::request_timeout: return "Request Timeout";
    case status::length_required: return "Length Required";
    case status::content_too_large: return "Content Too Large";
    case status::header_fields_too_large: return "Request Header Fields Too Large";
    case status::internal_error: return "Internal Server Error";
    case status::not_implemented: return "Not Implemented";
    case status::version_not_supported: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

}  // namespace http
