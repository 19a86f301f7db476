// Requests as Redis reads them: RESP multibulk arrays ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or
// inline lines ("GET k\n", split like a shell, with "..." and '...' quoting), incrementally.
//
// The caller keeps the bytes the parser did not consume and presents them again, followed by
// whatever arrived since; a request split at any byte boundary parses the same as in one piece.
// Bulk payloads are consumed as they arrive (copied into the argument, which grows with them),
// so what stays unconsumed is never more than one header or inline line (<= max_line + 1).
//
// Hostile input: every limit is checked before memory is spent on it. Nothing is reserved from a
// length or a count the client announces; memory grows only with bytes actually received, and
// the request as a whole is capped (max_request), as Redis caps its query buffer.
// After an error the parser stays failed: the connection is to be closed after the reply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

struct parser_limits {
  std::size_t max_line = 64 * 1024;           // an inline request or a header line
  std::size_t max_bulk = 64 * 1024 * 1024;     // one argument (Redis: 512 MiB)
  std::size_t max_args = 1024 * 1024;          // arguments of one request (Redis: INT_MAX)
  std::size_t max_request = 128 * 1024 * 1024; // payload bytes of one request, all arguments
};

class request_parser {
 public:
  enum class status { need_more, request, error };

  explicit request_parser(parser_limits limits = {}) : limits_(limits) {}

  // Consumes from the front of `input`. `request`: args() holds it until the next call.
  // `need_more`: all of `input` that could be used was consumed. `error`: see error().
  status parse(std::string_view& input);

  std::span<std::string> args() noexcept { return std::span(args_).first(argc_); }
  // The reply for the error, e.g. "Protocol error: invalid bulk length"; empty when the
  // connection is to be closed without one (a request over max_request, as Redis does).
  std::string_view error() const noexcept { return error_; }

  // Drops argument buffers that grew large, so an idle connection does not keep them.
  void trim() noexcept;

 private:
  enum class state { start, inline_line, count_line, bulk_line, payload, payload_end };
  // What one step of the state machine did: moved on, or needs more input, or ended.
  enum class step { advanced, need_more, request, error };

  step fail(std::string message);
  // Finds the terminator of the line at the front of `input`; npos while it has not arrived.
  std::size_t find_terminator(std::string_view input, char terminator);
  step parse_inline(std::string_view& input);
  step parse_count(std::string_view& input);
  step parse_bulk_header(std::string_view& input);
  step consume_payload(std::string_view& input);
  std::string& next_arg();

  parser_limits limits_;
  state state_ = state::start;
  std::vector<std::string> args_;  // strings past argc_ keep their capacity for reuse
  std::size_t argc_ = 0;
  std::size_t expected_args_ = 0;
  std::size_t payload_left_ = 0;   // of the current bulk, then of its "\r\n"
  std::size_t request_bytes_ = 0;
  std::size_t scanned_ = 0;        // bytes of the pending line already searched
  std::string error_;
  bool failed_ = false;
};

}  // namespace kv
