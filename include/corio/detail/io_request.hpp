// What a socket operation asks of a completion engine (lib/completion), and where the answer
// goes. Below the executor: the engine sees these two types and nothing of the executor.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corio::detail {

// A whole operation, for an executor whose kernel runs them (a completion engine); the engine
// adds the flags (MSG_NOSIGNAL, SOCK_NONBLOCK|SOCK_CLOEXEC).
struct io_request {
  enum class kind : std::uint8_t { recv, send, recvmsg, sendmsg, accept, connect };
  kind op = kind::recv;
  // recv of a stream's bytes: may be answered from what the socket received ahead (a datagram
  // recv keeps its boundaries and says false).
  bool stream = false;
  int fd = -1;
  void* data = nullptr;  // buffer; a message (msg_storage); a socket_address (accept, connect)
  std::size_t size = 0;  // buffer length; address capacity (accept) or length (connect)
  std::uint32_t* addr_len = nullptr;  // accept: in capacity, out the address's length
};

// Where the answer to a request goes: one call with the kernel's result (bytes, a new fd, or
// -errno), made on the executor's thread. No dispatch over kinds of operation.
struct io_callback {
  void (*complete)(io_callback&, std::int32_t result) noexcept = nullptr;
};

}  // namespace corio::detail
