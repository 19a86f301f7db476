// corio::sim::udp_socket: a datagram socket of the simulated network, with corio::udp_socket's
// member functions and results (bind, send_to, recv_from, local_address, close), so protocol
// code templated on its socket type runs against either (see sim.hpp, "Net").
//
// A datagram goes through the world's link faults (latency, loss, duplication, reordering,
// partitions) and arrives in the receiving socket's queue (at most 256 waiting; more are
// dropped, like a full socket buffer). recv_from is cancellable like every corio operation; a
// socket closed while a recv_from waits ends it with operation_canceled.
#pragma once

#include <coroutine>
#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>

namespace corio::sim {

namespace detail {

struct udp_state;

class recv_from_op final : public corio::detail::operation {
 public:
  recv_from_op(udp_state* s, std::span<std::byte> buf) noexcept : state_(s), buf_(buf) {}
  recv_from_op(const recv_from_op&) = delete;
  recv_from_op& operator=(const recv_from_op&) = delete;
  ~recv_from_op() {
    disarm();
    if (linked_) unlink();
  }

  bool await_ready() noexcept { return try_take(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    link();
    if (!arm(h, corio::detail::stop_token_of(h))) {
      unlink();
      return false;
    }
    return true;
  }
  result<std::pair<std::size_t, net::socket_address>> await_resume() noexcept {
    disarm();
    if (done_) return std::pair{size_, from_};
    if (error_) return error_;
    return std::make_error_code(std::errc::operation_canceled);
  }

  // The network's side (lib/sim): a datagram for the waiting operation, or its socket closed.
  void deliver(const std::byte* data, std::size_t n, const net::socket_address& from) noexcept;
  void fail(std::error_code ec) noexcept;

 private:
  bool try_take() noexcept;
  void link() noexcept;
  void unlink() noexcept override;

  udp_state* state_;
  std::span<std::byte> buf_;
  std::size_t size_ = 0;
  net::socket_address from_;
  std::error_code error_;
  bool done_ = false;
  bool linked_ = false;
};

// Sending never waits: the datagram is in the network (or dropped) when send_to returns.
class send_to_op {
 public:
  send_to_op(udp_state* s, std::span<const std::byte> buf, const net::socket_address& to) noexcept
      : state_(s), buf_(buf), to_(&to) {}
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  result<std::size_t> await_resume() noexcept;

 private:
  udp_state* state_;
  std::span<const std::byte> buf_;
  const net::socket_address* to_;
};

}  // namespace detail

class udp_socket {
 public:
  udp_socket() noexcept = default;
  udp_socket(udp_socket&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  udp_socket& operator=(udp_socket&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~udp_socket() { close(); }

  // `at` must be a host's address (port 0 picks one); fails with address_in_use, or
  // address_not_available for an address no live host has, or outside a world.
  static result<udp_socket> bind(const net::socket_address& at);

  // co_await → result<std::size_t>.
  detail::send_to_op send_to(std::span<const std::byte> buf, const net::socket_address& to) noexcept {
    return {state_, buf, to};
  }
  // The same, without an awaitable (sending never waits): see corio::real_network.
  result<std::size_t> try_send_to(std::span<const std::byte> buf, const net::socket_address& to) {
    return detail::send_to_op(state_, buf, to).await_resume();
  }
  // co_await → result<std::pair<std::size_t, net::socket_address>>.
  detail::recv_from_op recv_from(std::span<std::byte> buf) noexcept { return {state_, buf}; }

  result<net::socket_address> local_address() const;
  void close() noexcept;

 private:
  explicit udp_socket(detail::udp_state* s) noexcept : state_(s) {}
  detail::udp_state* state_ = nullptr;
};

}  // namespace corio::sim
