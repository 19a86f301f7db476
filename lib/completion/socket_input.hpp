// What a completion engine keeps per socket: the input it received ahead while nobody waited (a
// stream's bytes, a listener's connections) and the one operation waiting for more. It lives
// in the executor's slot for the socket; only the engine reads or writes it.
#pragma once

#include <cstdint>

#include <corio/detail/io_request.hpp>

#include "completion/accepted_connections.hpp"
#include "completion/received_buffers.hpp"

namespace corio::detail {

struct socket_input {
  int fd = -1;
  // Bumped when the socket closes: completions still in flight for it then miss.
  std::uint8_t generation = 0;
  receive_queue received;  // buffered receive (stream sockets)
  accept_queue accepted;   // multishot accept (listeners)
  // The operation waiting for input received ahead, and what it asked for.
  io_callback* waiter = nullptr;
  io_request wanted;
};

}  // namespace corio::detail
