// One client connection: read, parse, execute, reply; until the peer ends, QUIT, a protocol
// error, or a stop request.
//
// Back-pressure: replies are flushed once per read (so a pipeline costs one write) and also
// whenever they pass flush_at; write_all suspends while the client does not read, and the
// session reads nothing meanwhile. So a client that sends and never reads holds at most one
// read buffer, one partial line and flush_at plus one request's reply; the kernel's socket
// buffers stop it, not the server's memory.
#pragma once

#include <cstddef>

#include <corio/task.hpp>
#include <corio/tcp.hpp>

#include "resp_parser.hpp"
#include "store.hpp"

namespace kv {

struct session_options {
  parser_limits limits;
  std::size_t read_size = 16 * 1024;
  std::size_t flush_at = 64 * 1024;
};

// The deadlines' clock: milliseconds of std::chrono::steady_clock.
millis now_ms() noexcept;

corio::task<> serve_client(corio::tcp_stream stream, store& db, session_options options = {});

}  // namespace kv
