// An incremental HTTP/1.1 request parser (RFC 9112) with hard limits, and no allocation.
//
//   http::request_parser p;
//   auto step = p.next(buffered);   // buffered: every byte received and not yet consumed
//   drop(step.consumed);            // then act on step.kind
//
// Contracts, read these before using it:
// - Call next() with all bytes received and not yet consumed, oldest first: while a head is
//   incomplete it consumes nothing and keeps the offset it scanned up to, so the caller keeps
//   those bytes (moving them in memory is fine) and hands them back with whatever came next.
//   It never needs more than limits.max_head buffered bytes to make progress.
// - One event per call. need_more: every byte given was consumed (or belongs to an incomplete
//   head); read more. head: `request()` describes it; its string_views point into the bytes
//   just consumed and stay valid until those bytes are overwritten. body: `body` is a slice of
//   the input (body bytes, without chunk framing). complete: the message ended; the next call
//   starts the next request. error: `error` is the status to answer with; the stream cannot
//   be resynchronised (close after answering), and every later call repeats the error.
// - Limits are checked before anything is stored: no length the client sends is ever used to
//   size a buffer; a Content-Length above max_body is 413 at the head, a chunked body is 413
//   as soon as its total passes max_body.
// - Strict where leniency enables request smuggling: bare LF or CR, obs-fold, whitespace before
//   a colon, Content-Length with Transfer-Encoding, conflicting Content-Lengths, a second
//   Transfer-Encoding, and Transfer-Encoding in HTTP/1.0 are all 400.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace http {

enum class status : std::uint16_t {
  continue_ = 100,
  ok = 200,
  bad_request = 400,
  not_found = 404,
  method_not_allowed = 405,
  request_timeout = 408,
  length_required = 411,
  content_too_large = 413,
  header_fields_too_large = 431,
  internal_error = 500,
  not_implemented = 501,
  version_not_supported = 505,
};

enum class method { get, head, post, other };
enum class framing { none, length, chunked };

struct limits {
  std::size_t max_head = 8 * 1024;        // request line + header fields + blank line
  std::size_t max_headers = 100;          // header field lines in one head
  std::uint64_t max_body = 1024 * 1024;   // decoded body bytes
  std::size_t max_chunk_line = 1024;      // chunk-size line, extensions included
  std::size_t max_trailers = 8 * 1024;    // trailer section of a chunked body
};

struct request {
  std::string_view method_text;
  method verb = method::other;
  std::string_view target;  // as sent
  std::string_view path;    // origin-form path, without the query; empty if none can be found
  unsigned minor = 1;       // HTTP/1.<minor>; any minor above 1 is treated as 1.1
  bool keep_alive = true;   // after this exchange, by version and Connection
  bool expect_continue = false;
  framing body = framing::none;
  std::uint64_t content_length = 0;  // framing::length only
};

enum class event { need_more, head, body, complete, error };

struct step {
  event kind = event::need_more;
  std::size_t consumed = 0;
  std::string_view body;  // event::body
  status error = status::ok;  // event::error
};

class request_parser {
 public:
  explicit request_parser(limits l = {}) noexcept : limits_(l) {}

  step next(std::string_view data) noexcept;

  // The last head; valid from its head event until its bytes are overwritten.
  const request& current() const noexcept { return request_; }
  bool in_head() const noexcept { return state_ == state::head; }
  bool failed() const noexcept { return state_ == state::failed; }

 private:
  enum class state {
    head,
    length_body,
    chunk_size,
    chunk_ext,
    chunk_size_lf,
    chunk_data,
    chunk_data_cr,
    chunk_data_lf,
    trailer_line,
    trailer_lf,
    complete,  // the message ended: report it on the next call
    failed,
  };

  struct seen_fields {
    bool content_length = false;
    bool transfer_encoding = false;
    bool close = false;       // Connection: close
    bool keep_alive = false;  // Connection: keep-alive
    unsigned hosts = 0;
  };

  step head(std::string_view data) noexcept;
  step chunked(std::string_view data) noexcept;
  bool frame_byte(char c) noexcept;
  step fail(status s, std::size_t consumed = 0) noexcept;
  status parse_head(std::string_view head) noexcept;
  status parse_request_line(std::string_view line) noexcept;
  status parse_field(std::string_view name, std::string_view value, seen_fields& seen) noexcept;
  void start_body() noexcept;

  limits limits_;
  state state_ = state::head;
  status error_ = status::ok;
  request request_;
  // Head scanning, relative to the start of the unconsumed bytes.
  std::size_t scanned_ = 0;     // bytes already checked
  std::size_t line_start_ = 0;  // start of the line being scanned
  std::size_t head_start_ = 0;  // after the empty lines allowed before a request line
  // Body.
  std::uint64_t remaining_ = 0;  // of the Content-Length body or the current chunk
  std::uint64_t total_ = 0;      // decoded body bytes so far
  std::size_t line_length_ = 0;  // chunk-size line or trailer section, for their limits
  bool size_digits_ = false;     // a chunk-size line had at least one hex digit
  bool trailer_empty_line_ = true;
};

// The reason phrase for a status this server sends ("OK", "Not Found", ...).
std::string_view reason(status s) noexcept;

}  // namespace http
