// What every coroutine socket is (tokio's PollEvented<E> is the model): a raw non-blocking
// socket (corio::net) plus its registration with the thread's executor. Registration, move,
// close, release and from_raw live here once; each socket type (tcp.hpp, udp.hpp, unix.hpp)
// derives from it and adds only its operations.
#pragma once

#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>

namespace corio::detail {

template <class Socket, class Raw>
class registered_socket {
 public:
  using raw_type = Raw;

  registered_socket() noexcept = default;
  registered_socket(registered_socket&&) noexcept = default;
  registered_socket& operator=(registered_socket&& other) noexcept {
    if (this != &other) {
      reg_.reset();  // before the old fd closes (see the member order)
      raw_ = std::move(other.raw_);
      reg_ = std::move(other.reg_);
    }
    return *this;
  }
  ~registered_socket() = default;

  // Registers a raw socket with this thread's executor.
  static result<Socket> from_raw(Raw raw) {
    auto reg = io_registration::open(raw.native_handle());
    if (!reg) return reg.error();
    Socket s;
    s.raw_ = std::move(raw);
    s.reg_ = std::move(*reg);
    return s;
  }

  result<net::socket_address> local_address() const { return raw_.local_address(); }
  // Deregisters (ending pending operations with operation_aborted), then closes.
  void close() noexcept {
    reg_.reset();
    raw_.close();
  }

  Raw& raw() noexcept { return raw_; }
  const Raw& raw() const noexcept { return raw_; }

 protected:
  // Makes the raw socket with Raw::bind(args...) and registers it: every bind() in one place.
  template <class... Args>
  static result<Socket> bind_raw(const Args&... args) {
    auto raw = Raw::bind(args...);
    if (!raw) return raw.error();
    return from_raw(std::move(*raw));
  }

  // Deregisters and hands back the open socket (see tcp_stream::release).
  Raw release_raw() noexcept {
    reg_.hand_over();
    return std::move(raw_);
  }

  // Declared in this order so the registration goes before the fd closes: a closed fd number
  // may be reused at once, and removing it from the reactor then would remove the wrong file.
  Raw raw_;
  io_registration reg_;
};

}  // namespace corio::detail
