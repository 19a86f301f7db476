// The HTTP request parser, response writer and routes of examples/http, without sockets.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "request_parser.hpp"
#include "response.hpp"
#include "routes.hpp"

namespace {

using http::event;
using http::status;

// Feeds `input` the way a connection does (all unconsumed bytes, more appended on need_more),
// in pieces that end at `cuts`, and writes down what the parser reported: one line per head,
// the whole body of a message, completion, error.
std::string drive(std::string_view input, const std::vector<std::size_t>& cuts = {},
                  http::limits limits = {}) {
  http::request_parser parser(limits);
  std::string buffered, body, log;
  std::size_t fed = 0, next_cut = 0;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    const auto s = parser.next(buffered);
    EXPECT_LE(s.consumed, buffered.size());
    switch (s.kind) {
      case event::head: {
        const auto& r = parser.current();
        log += "head " + std::string(r.method_text) + " " + std::string(r.path) + " 1." +
               std::to_string(r.minor) + (r.keep_alive ? " keep" : " close") +
               (r.expect_continue ? " continue" : "") + "\n";
        break;
      }
      case event::body:
        EXPECT_FALSE(s.body.empty());
        body += s.body;
        break;
      case event::complete:
        log += "body[" + body + "]\ncomplete\n";
        body.clear();
        break;
      case event::error:
        log += "error " + std::to_string(static_cast<int>(s.error)) + "\n";
        return log;
      case event::need_more:
        // A head may wait for more bytes; anything else must have been consumed entirely.
        EXPECT_TRUE(parser.in_head() || s.consumed == buffered.size());
        EXPECT_LT(buffered.size() - s.consumed, limits.max_head);
        break;
    }
    buffered.erase(0, s.consumed);
    if (s.kind != event::need_more) continue;
    if (fed == input.size()) return log + (buffered.empty() ? "" : "partial\n");
    const std::size_t until = next_cut < cuts.size() ? cuts[next_cut++] : input.size();
    buffered += input.substr(fed, until - fed);
    fed = until;
  }
  ADD_FAILURE() << "the parser made no progress";
  return log;
}

std::string drive_limited(std::string_view input, http::limits limits) {
  return drive(input, {}, limits);
}

status first_error(std::string_view input, http::limits limits = {}) {
  http::request_parser parser(limits);
  std::string_view rest = input;
  for (int guard = 0; guard < 100'000; ++guard) {
    const auto s = parser.next(rest);
    rest.remove_prefix(s.consumed);
    if (s.kind == event::error) return s.error;
    if (s.kind == event::need_more) return status::ok;  // all consumed, or a partial head
  }
  return status::internal_error;
}

const std::string pipeline =
    "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
    "POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    "\r\n"  // an empty line between requests is allowed
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "4;ext=\"v\"\r\nWiki\r\n5 \r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n"
    "HEAD / HTTP/1.1\r\nhost: a\r\nExpect: 100-continue\r\n\r\n"
    "GET http://a/plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    "GET / HTTP/1.0\r\n\r\n";

const std::string pipeline_log =
    "head GET /plaintext 1.1 keep\nbody[]\ncomplete\n"
    "head POST /echo 1.1 keep\nbody[hello world]\ncomplete\n"
    "head POST /echo 1.1 keep\nbody[Wikipedia in\r\n\r\nchunks.]\ncomplete\n"
    "head HEAD / 1.1 keep continue\nbody[]\ncomplete\n"
    "head GET /plaintext 1.0 keep\nbody[]\ncomplete\n"
    "head GET / 1.0 close\nbody[]\ncomplete\n";

TEST(request_parser, parses_a_pipeline_in_one_piece) { EXPECT_EQ(drive(pipeline), pipeline_log); }

TEST(request_parser, pipelined_requests_split_at_every_byte_boundary) {
  for (std::size_t cut = 1; cut < pipeline.size(); ++cut) {
    ASSERT_EQ(drive(pipeline, {cut}), pipeline_log) << "cut at " << cut;
  }
}

TEST(request_parser, pipelined_requests_fed_one_byte_at_a_time) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < pipeline.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(drive(pipeline, cuts), pipeline_log);
}

TEST(request_parser, reports_request_fields) {
  http::request_parser p;
  const auto s = p.next("POST /echo?q HTTP/1.1\r\nHost: x\r\nContent-Length: 007\r\n"
                        "Connection: Keep-Alive, close\r\n\r\n");
  ASSERT_EQ(s.kind, event::head);
  const auto& r = p.current();
  EXPECT_EQ(r.verb, http::method::post);
  EXPECT_EQ(r.target, "/echo?q");
  EXPECT_EQ(r.path, "/echo");
  EXPECT_EQ(r.body, http::framing::length);
  EXPECT_EQ(r.content_length, 7u);
  EXPECT_FALSE(r.keep_alive);
}

TEST(request_parser, unknown_methods_are_tokens_not_errors) {
  EXPECT_EQ(drive("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"),
            "head BREW /pot 1.1 keep\nbody[]\ncomplete\n");
}

TEST(request_parser, every_error_status) {
  const std::pair<const char*, status> cases[] = {
      {"GARBAGE\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\nHost: x\r\n\r\n", status::bad_request},  // bare LF
      {"\n", status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n", status::bad_request},  // bare CR
      {"GET / HTTP/1.1\r\nHost: x\r\n fold\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\n\r\n", status::bad_request},  // no Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.10\r\nHost: x\r\n\r\n", status::bad_request},
      {"GET / http/1.1\r\nHost: x\r\n\r\n", status::bad_request},
      {"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", status::bad_request},
      {"GET / HTTP/3.0\r\nHost: x\r\n\r\n", status::version_not_supported},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 12345678901234567890\r\n\r\n",
       status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       status::bad_request},
      {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
       status::bad_request},
      {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       status::not_implemented},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n",
       status::content_too_large},
      {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n",
       status::bad_request},
      {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
       status::bad_request},
      {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\nab\r\n",
       status::bad_request},
      {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT\x01\r\n\r\n",
       status::bad_request},
      {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "ffffffffffffffffffffffff\r\n",
       status::content_too_large},
  };
  for (const auto& [input, want] : cases) {
    EXPECT_EQ(first_error(input), want) << input;
  }
}

// Issue 17: "GET /\r\n" (HTTP/0.9) waited for a blank line that never comes, then 408 after
// 10 s. A request line is judged as soon as it ends; a good one still waits for its head.
TEST(request_parser, refuses_a_request_line_as_soon_as_it_ends) {
  EXPECT_EQ(first_error("GET /\r\n"), status::bad_request);
  EXPECT_EQ(first_error("\r\nGET /index.html\r\n"), status::bad_request);
  EXPECT_EQ(first_error("GET / HTTP/2.0\r\n"), status::version_not_supported);
  EXPECT_EQ(first_error("GARBAGE\r\n"), status::bad_request);
  EXPECT_EQ(first_error("GET\r\n"), status::bad_request);
  EXPECT_EQ(first_error("G(T / HTTP/1.1\r\n"), status::bad_request);
  EXPECT_EQ(first_error("GET / HTTP/1.1\r\n"), status::ok);  // needs the rest of its head
  EXPECT_EQ(first_error("GET / HTTP/1.1\r\nHost: x\r\n"), status::ok);
  EXPECT_EQ(drive("GET /\r\n"), "error 400\n");
}

TEST(request_parser, errors_are_sticky) {
  http::request_parser p;
  EXPECT_EQ(p.next("BAD\r\n\r\n").kind, event::error);
  const auto again = p.next("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(again.kind, event::error);
  EXPECT_EQ(again.error, status::bad_request);
  EXPECT_TRUE(p.failed());
}

std::string head_of_size(std::size_t size) {
  std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
  const std::string end = "\r\n\r\n";
  head.append(size - head.size() - end.size(), 'a');
  return head + end;
}

TEST(request_parser, limit_max_head) {
  EXPECT_EQ(drive(head_of_size(8192)), "head GET / 1.1 keep\nbody[]\ncomplete\n");
  EXPECT_EQ(drive(head_of_size(8193)), "error 431\n");
  EXPECT_EQ(drive(std::string(9000, 'A')), "error 431\n");  // no line end at all
  // Split or not, the limit triggers at the same byte.
  EXPECT_EQ(drive(head_of_size(8193), {100, 8191, 8192}), "error 431\n");
  EXPECT_EQ(drive(head_of_size(8192), {8191}), "head GET / 1.1 keep\nbody[]\ncomplete\n");
}

std::string with_fields(std::size_t n) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 1; i < n; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  return head + "Host: x\r\n\r\n";
}

TEST(request_parser, limit_max_headers) {
  EXPECT_EQ(drive(with_fields(100)), "head GET / 1.1 keep\nbody[]\ncomplete\n");
  EXPECT_EQ(drive(with_fields(101)), "error 431\n");
}

TEST(request_parser, limit_max_body_content_length) {
  http::limits small;
  small.max_body = 4;
  EXPECT_EQ(drive_limited("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd", small),
            "head POST / 1.1 keep\nbody[abcd]\ncomplete\n");
  EXPECT_EQ(drive_limited("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde", small),
            "error 413\n");
}

TEST(request_parser, limit_max_body_chunked) {
  http::limits small;
  small.max_body = 6;
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(drive_limited(head + "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", small),
            "head POST / 1.1 keep\nbody[abcdef]\ncomplete\n");
  // Refused when the size line announces it, before the data is read.
  EXPECT_EQ(drive_limited(head + "3\r\nabc\r\n4\r\n", small),
            "head POST / 1.1 keep\nerror 413\n");
  EXPECT_EQ(drive_limited(head + "0000000000000000000000003\r\nabc\r\n0\r\n\r\n", small),
            "head POST / 1.1 keep\nbody[abc]\ncomplete\n");  // leading zeros are not a size
}

TEST(request_parser, limit_chunk_line) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(drive(head + "1;" + std::string(1000, 'e') + "\r\na\r\n0\r\n\r\n"),
            "head POST / 1.1 keep\nbody[a]\ncomplete\n");
  EXPECT_EQ(drive(head + "1;" + std::string(1100, 'e') + "\r\na\r\n0\r\n\r\n"),
            "head POST / 1.1 keep\nerror 400\n");
}

TEST(request_parser, limit_trailers) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(drive(head + "0\r\nT: " + std::string(8000, 't') + "\r\n\r\n"),
            "head POST / 1.1 keep\nbody[]\ncomplete\n");
  EXPECT_EQ(drive(head + "0\r\nT: " + std::string(9000, 't') + "\r\n\r\n"),
            "head POST / 1.1 keep\nerror 431\n");
}

TEST(request_parser, keep_alive_by_version_and_connection) {
  EXPECT_EQ(drive("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            "head GET / 1.1 close\nbody[]\ncomplete\n");
  EXPECT_EQ(drive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
            "head GET / 1.0 keep\nbody[]\ncomplete\n");
  EXPECT_EQ(drive("GET / HTTP/1.0\r\n\r\n"), "head GET / 1.0 close\nbody[]\ncomplete\n");
  // A later minor version is HTTP/1.1 to us.
  EXPECT_EQ(drive("GET / HTTP/1.9\r\nHost: x\r\n\r\n"), "head GET / 1.1 keep\nbody[]\ncomplete\n");
}

TEST(request_parser, an_incomplete_head_keeps_its_bytes) {
  http::request_parser p;
  const std::string part = "GET / HTTP/1.1\r\nHo";
  const auto s = p.next(part);
  EXPECT_EQ(s.kind, event::need_more);
  EXPECT_EQ(s.consumed, 0u);
  EXPECT_EQ(p.next(part + "st: x\r\n\r\n").kind, event::head);
}

TEST(response, head_and_body) {
  std::string out;
  http::append_response(out, {http::status::ok, "text/plain", 0, true, 1, {}}, "hi", false);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n")) << out;
  EXPECT_NE(out.find("\r\nContent-Type: text/plain\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nContent-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nDate: "), std::string::npos);
  EXPECT_EQ(out.find("Connection"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\nhi"));
}

TEST(response, head_request_gets_the_fields_without_the_body) {
  std::string out;
  http::append_response(out, {http::status::ok, "text/plain", 0, true, 1, {}}, "hello", true);
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(response, connection_field_by_version) {
  std::string out;
  http::append_head(out, {http::status::ok, {}, 0, true, 0, {}});
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  out.clear();
  http::append_error(out, http::status::header_fields_too_large, 1);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\nRequest Header Fields Too Large\n"));
}

http::route route_of(std::string_view head) {
  http::request_parser p;
  EXPECT_EQ(p.next(head).kind, event::head);
  return http::route_for(p.current());
}

TEST(routes, known_paths_methods_and_the_rest) {
  EXPECT_EQ(route_of("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").body, "Hello, World!");
  EXPECT_EQ(route_of("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").code, status::ok);
  EXPECT_EQ(route_of("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n").what, http::action::echo);
  const auto wrong = route_of("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(wrong.code, status::method_not_allowed);
  EXPECT_EQ(wrong.allow, "POST");
  EXPECT_EQ(route_of("PUT /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").allow, "GET, HEAD");
  EXPECT_EQ(route_of("GET /plaintextx HTTP/1.1\r\nHost: x\r\n\r\n").code, status::not_found);
  EXPECT_EQ(route_of("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").code, status::not_found);
}

}  // namespace
