// Writes HTTP/1.1 responses into a connection's output buffer. Appending reuses the buffer's
// capacity, so a warmed-up connection formats responses without allocating.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "request_parser.hpp"

namespace http {

struct response_head {
  status code = status::ok;
  std::string_view content_type;  // none when empty
  std::uint64_t content_length = 0;
  bool keep_alive = true;         // false: "Connection: close"
  unsigned request_minor = 1;     // an HTTP/1.0 peer must be told when it may keep the connection
  std::string_view allow;         // the Allow field of a 405, none when empty
};

// Status line and header fields, through the blank line; the body is the caller's to append.
void append_head(std::string& out, const response_head& head);

// A whole response with a small body; HEAD gets the same fields without the body.
void append_response(std::string& out, const response_head& head, std::string_view body,
                     bool head_only);

// An error answer that closes the connection: its reason phrase as a text/plain body.
void append_error(std::string& out, status code, unsigned request_minor);

// The interim "100 Continue" a client that sent "Expect: 100-continue" waits for.
void append_continue(std::string& out);

}  // namespace http
