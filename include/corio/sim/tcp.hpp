// corio::sim::tcp_stream and tcp_listener: byte streams of the simulated network, with the
// member functions and results of corio::tcp_stream / corio::tcp_listener (bind, accept,
// connect, read, read_exact, write, write_all, shutdown_write, close, local/peer address), so a
// handler templated on its stream type runs against either (see sim.hpp, "Net").
//
//   auto l = corio::sim::tcp_listener::bind({w.address_of(server), 80}).value();
//   auto s = (co_await corio::sim::tcp_stream::connect({w.address_of(server), 80},
//                                                      w.address_of(client))).value();
//
// What the network does to a stream (TCP's promise: never reordered, duplicated or corrupted):
// - Bytes arrive after the link's latency (link_faults, drawn per write); a write that the
//   link's `loss` hits arrives one retransmission timeout later, still in order.
// - A partition (cut) stalls a stream: its bytes wait and go through after the heal, in order.
//   A stream stalled for longer than stream_options::give_up is reset: the side that could not
//   send gets timed_out (Linux's ETIMEDOUT after its retransmissions), the other side
//   connection_reset (told at once: the simulation's shortcut for what a keepalive finds out).
// - A host's crash resets its streams: the peer's next read or write gets connection_reset
//   after the link's latency. world::reset_stream() resets one connection on demand or by seed.
// - Flow control: each direction holds at most stream_options::buffer bytes written and not yet
//   read; a writer beyond that waits until the reader reads. The buffers are rings allocated at
//   connect (and recycled with the connection), so a running stream allocates nothing.
//
// Results, as Linux gives them: connect to a port nobody listens on is connection_refused (after
// a round trip); read returns 0 at the peer's FIN (shutdown_write or close); a reset is reported
// once, by the first read or write, as connection_reset (or timed_out), after which reads return
// 0 and writes broken_pipe;
// closing a stream that still had unread input resets the peer instead of ending it cleanly;
// data arriving at a closed stream resets the writer. Closing a socket while one of its
// operations waits ends that operation with error::operation_aborted; a closed or moved-from
// socket answers bad_file_descriptor. One waiter per direction (device_or_resource_busy).
//
// The connecting host is named: connect(to, from) with `from` one of the world's host addresses.
// A simulated host is not a thread, and a corio task carries no host identity through when_any
// or timeout, so the simulation cannot guess it the way a kernel picks a source by its routes.
// sim.hpp's network::connect(to, from) / real_network::connect(to, from) hide the difference.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>

namespace corio::sim {

class tcp_stream;

namespace detail {

struct tcp_endpoint;
struct tcp_listen_state;

// read, read_exact, write and write_all: one operation class, the kind says which. All of its
// work is in lib/sim/tcp.cpp; the templates below only give the results their types.
class stream_op_base : public corio::detail::operation {
 public:
  enum class kind : std::uint8_t { read, read_exact, write, write_all };
  stream_op_base(tcp_endpoint* e, kind k, std::byte* data, std::size_t size) noexcept
      : ep_(e), data_(data), size_(size), kind_(k) {}
  stream_op_base(const stream_op_base&) = delete;
  stream_op_base& operator=(const stream_op_base&) = delete;

  // The network's side: the endpoint changed (bytes, space, FIN, reset); retry, and resume the
  // waiting task if that finished the operation.
  void wake() noexcept;
  // The socket closed under the waiting operation.
  void abort() noexcept;

 protected:
  ~stream_op_base() {
    disarm();
    unlink();
  }
  bool suspend(std::coroutine_handle<> h, const std::stop_token& stop) noexcept;
  // What co_await returns, before the kind's shape: the error, or none.
  std::error_code outcome() noexcept;
  std::size_t done_ = 0;

 private:
  bool attempt() noexcept;  // true: finished (a result or an error)
  bool is_read() const noexcept { return kind_ == kind::read || kind_ == kind::read_exact; }
  void unlink() noexcept override;

  tcp_endpoint* ep_;
  std::byte* data_;
  std::size_t size_;
  std::error_code error_;
  kind kind_;
  bool linked_ = false;
  bool stopped_ = false;
};

// co_await → result<std::size_t> (read, write) or result<void> (read_exact, write_all).
template <class R>
class [[nodiscard]] stream_op final : public stream_op_base {
 public:
  using stream_op_base::stream_op_base;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return suspend(h, corio::detail::stop_token_of(h));
  }
  result<R> await_resume() noexcept {
    if (auto ec = outcome()) return ec;
    if constexpr (std::is_void_v<R>) {
      return {};
    } else {
      return done_;
    }
  }
};

// co_await → result<std::pair<tcp_stream, net::socket_address>>.
class [[nodiscard]] accept_op final : public corio::detail::operation {
 public:
  explicit accept_op(tcp_listen_state* s) noexcept : state_(s) {}
  accept_op(const accept_op&) = delete;
  accept_op& operator=(const accept_op&) = delete;
  ~accept_op();
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return suspend(h, corio::detail::stop_token_of(h));
  }
  result<std::pair<tcp_stream, net::socket_address>> await_resume() noexcept;

  void wake() noexcept;   // a connection queued, or the listener closed
  void abort() noexcept;  // closed locally

 private:
  bool suspend(std::coroutine_handle<> h, const std::stop_token& stop) noexcept;
  bool attempt() noexcept;
  void unlink() noexcept override;

  tcp_listen_state* state_;
  tcp_endpoint* taken_ = nullptr;
  std::error_code error_;
  bool linked_ = false;
  bool stopped_ = false;
};

// co_await → result<tcp_stream>: the SYN's round trip, or why it failed.
class [[nodiscard]] connect_op final : public corio::detail::operation {
 public:
  connect_op(const net::socket_address& to, const net::ip_address& from) noexcept
      : to_(to), from_(from) {}
  connect_op(const connect_op&) = delete;
  connect_op& operator=(const connect_op&) = delete;
  ~connect_op();
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    return suspend(h, corio::detail::stop_token_of(h));
  }
  result<tcp_stream> await_resume() noexcept;

  void settle(std::error_code ec) noexcept;  // the network's answer (empty: established)

 private:
  bool suspend(std::coroutine_handle<> h, const std::stop_token& stop) noexcept;
  void unlink() noexcept override;

  net::socket_address to_;
  net::ip_address from_;
  tcp_endpoint* ep_ = nullptr;  // ours until await_resume hands it to a tcp_stream
  std::error_code error_;
  bool settled_ = false;
  bool stopped_ = false;
};

}  // namespace detail

class tcp_stream {
 public:
  tcp_stream() noexcept = default;
  tcp_stream(tcp_stream&& other) noexcept : ep_(std::exchange(other.ep_, nullptr)) {}
  tcp_stream& operator=(tcp_stream&& other) noexcept {
    if (this != &other) {
      close();
      ep_ = std::exchange(other.ep_, nullptr);
    }
    return *this;
  }
  ~tcp_stream() { close(); }

  // co_await → result<tcp_stream>. `from` is the connecting host's address (see above).
  static detail::connect_op connect(const net::socket_address& to, const net::ip_address& from) {
    return {to, from};
  }

  detail::stream_op<std::size_t> read(std::span<std::byte> buf) noexcept {
    return {ep_, kind::read, buf.data(), buf.size()};
  }
  detail::stream_op<void> read_exact(std::span<std::byte> buf) noexcept {
    return {ep_, kind::read_exact, buf.data(), buf.size()};
  }
  detail::stream_op<std::size_t> write(std::span<const std::byte> buf) noexcept {
    return {ep_, kind::write, const_cast<std::byte*>(buf.data()), buf.size()};  // only read
  }
  detail::stream_op<void> write_all(std::span<const std::byte> buf) noexcept {
    return {ep_, kind::write_all, const_cast<std::byte*>(buf.data()), buf.size()};
  }

  result<void> shutdown_write();
  result<void> set_nodelay(bool) { return ep_ ? result<void>() : bad_descriptor(); }
  result<net::socket_address> local_address() const;
  result<net::socket_address> peer_address() const;
  void close() noexcept;

 private:
  friend class detail::accept_op;
  friend class detail::connect_op;
  using kind = detail::stream_op_base::kind;
  explicit tcp_stream(detail::tcp_endpoint* e) noexcept : ep_(e) {}
  static result<void> bad_descriptor() {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  detail::tcp_endpoint* ep_ = nullptr;
};

class tcp_listener {
 public:
  tcp_listener() noexcept = default;
  tcp_listener(tcp_listener&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  tcp_listener& operator=(tcp_listener&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~tcp_listener() { close(); }

  // `at` must be a live host's address (port 0 picks one); address_in_use, or
  // address_not_available for an address no live host has, or outside a world. At most
  // `backlog` connections wait for accept; more are refused.
  static result<tcp_listener> bind(const net::socket_address& at, int backlog = 1024);

  detail::accept_op accept() noexcept { return detail::accept_op(state_); }

  result<net::socket_address> local_address() const;
  // Connections not yet accepted are reset.
  void close() noexcept;

 private:
  explicit tcp_listener(detail::tcp_listen_state* s) noexcept : state_(s) {}
  detail::tcp_listen_state* state_ = nullptr;
};

}  // namespace corio::sim
