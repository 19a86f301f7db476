// The one primitive under every socket awaitable (tcp.hpp, udp.hpp, unix.hpp). Each socket
// operation is a small "call" that io_awaiter drives in one of two ways, chosen by the
// executor's backend:
// - readiness (epoll): operator() does the non-blocking syscall; while it would block (EAGAIN),
//   wait for the socket's edge-triggered readiness and run it again;
// - completion engine: prepare() describes the whole operation and consume() takes its
//   result, with no syscall of ours (the engine batches requests into the loop turn's wait).
//   The engine may answer a stream read or an accept at once from input received ahead.
//   A call without prepare() waits with a one-shot poll and then runs operator().
//
// Invariants:
// - Readiness: the syscall is always tried before waiting: with edge-triggered readiness, data
//   that arrived earlier produces no new event, so waiting first could wait forever.
// - The first step happens in await_suspend, not await_ready, because only there is the awaiting
//   coroutine's stop token visible: a task that was asked to stop gets operation_canceled from
//   every later co_await, even one whose syscall would succeed at once (an echo loop on a busy
//   peer still stops). Returning false from await_suspend resumes at once, no real suspension.
// - A call may keep progress between tries (read_exact, write_all), so a whole loop is one
//   awaitable and one suspension at a time, with no coroutine frame and no allocation. Its
//   state (and a datagram's message header and address) lives in the awaiting frame.
// - Cancellation: a cancelled readiness operation made no syscall that moved data after its last
//   would-block, so a cancelled read leaves the bytes in the kernel. A cancelled completion
//   operation resumes only once the kernel let go of the buffer; if the kernel finished it
//   first, its result is delivered. A cancelled read_exact or write_all may have moved part of
//   the buffer (the count is lost).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/unique_fd.hpp>

namespace corio::detail {

// Which way an operation waits, as a type: the direction is a constant of the awaiter, so a
// co_await tests its readiness bit with a constant mask instead of loading the direction back
// from the frame.
template <io_operation::direction Dir>
struct io_side {
  static constexpr io_operation::direction value = Dir;
};
inline constexpr io_side<io_operation::direction::read> reading{};
inline constexpr io_side<io_operation::direction::write> writing{};

template <class Call, io_operation::direction Dir>
class [[nodiscard]] io_awaiter {
 public:
  static constexpr task_state corio_wait = task_state::io;
  static constexpr bool corio_resumes_on_owner = true;  // see operation
  using result_type = std::invoke_result_t<Call&>;
  using direction = io_operation::direction;

  // Waits on `reg`, which must outlive the awaiter (it is the socket's).
  io_awaiter(io_registration& reg, io_side<Dir>, Call call) noexcept(
      std::is_nothrow_move_constructible_v<Call>)
      : call_(std::move(call)), reg_(&reg) {}

  // For a call that owns the socket it waits on (connect): the registration is the call's.
  io_awaiter(io_side<Dir>, Call call) noexcept(std::is_nothrow_move_constructible_v<Call>)
      : call_(std::move(call)), reg_(&call_.registration()) {}

  io_awaiter(const io_awaiter&) = delete;
  io_awaiter& operator=(const io_awaiter&) = delete;
  ~io_awaiter() {
    if (waiting_) op_.~waiting();
  }

  bool await_ready() const noexcept { return false; }

  // True keeps the coroutine suspended until the operation (or a stop request) resumes it.
  // Inlined into the co_await: a call would cost more than most of what it does.
  template <class Promise>
  [[gnu::always_inline]] bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    const stop_ref& stop = stop_token_of(h);
    if (stop.stop_requested()) {
      stopped_ = true;
      return false;
    }
    if (const io_readiness* ready = reg_->readiness()) [[likely]] {
      // A socket that ran dry waits for its next edge; the syscall would only say EAGAIN.
      if ((ready->bits & io_readiness::side(reads)) && perform()) return false;
    } else {
      if constexpr (whole) {
        if (reg_->completion_based()) {
          if constexpr (requires { call_.unread(); }) {
            if (take_received()) return false;
          }
          return wait(h, stop, true);
        }
      }
      // No readiness to go by (an engine's one-shot poll, or no registration): try first.
      if (perform()) return false;
    }
    return wait(h, stop, false);
  }

  result_type await_resume() noexcept(std::is_nothrow_move_constructible_v<result_type>) {
    if (waiting_) {
      op_.disarm();
      // Resumed, the operation is inert: out of the slot, disarmed, owed nothing by the
      // kernel (every path that resumes it got there first). Its destructor would only check
      // that again, so it is not run (its storage simply ends with the awaiter).
      waiting_ = false;
      if (op_.canceled()) return std::make_error_code(std::errc::operation_canceled);
      // busy (another waiter in this direction), no registration, the socket closed, ...
      if (!result_) return op_.suspend_error();
    } else if (stopped_) {
      return std::make_error_code(std::errc::operation_canceled);
    }
    return std::move(*result_);
  }

 private:
  static constexpr bool whole = requires(Call& c, io_request& r) { c.prepare(r); };
  static constexpr bool reads = Dir == direction::read;

  // The state of an operation that waits: made only then, so that one finishing at once (most
  // writes, and reads on a busy socket) builds and tears down no operation.
  struct waiting final : io_operation {
    explicit waiting(io_awaiter& a) noexcept : self(&a) {}
    ~waiting() = default;
    bool perform() noexcept override { return self->perform(); }
    bool prepare(io_request& req) noexcept override {
      if constexpr (whole) {
        self->call_.prepare(req);
        return true;
      } else {
        return false;
      }
    }
    bool consume(std::int32_t res) noexcept override {
      if constexpr (whole) {
        std::optional<result_type> r = self->call_.consume(res);
        if (!r) return false;
        self->result_.emplace(std::move(*r));
      }
      return true;
    }
    io_awaiter* self;
  };

  // Only an operation that waits pays for building one.
  bool wait(std::coroutine_handle<> h, const stop_ref& stop,
                              bool whole_request) noexcept {
    ::new (static_cast<void*>(&op_)) waiting(*this);
    waiting_ = true;
    if constexpr (whole) {
      if (whole_request) {
        io_request req;
        call_.prepare(req);
        return op_.submit(h, stop, *reg_, Dir, req);
      }
    }
    return op_.suspend(h, stop, *reg_, Dir);
  }

  // Completion engines: a stream read that finds bytes the socket received ahead takes them
  // here, with no operation made and nothing submitted (most reads of a busy connection).
  bool take_received() noexcept {
    const std::span<std::byte> room = call_.unread();
    const std::optional<std::int32_t> n = reg_->take_received(room.data(), room.size());
    if (!n) return false;
    std::optional<result_type> r = call_.consume(*n);
    if (!r) return false;  // read_exact: a part came; the rest is submitted
    result_.emplace(std::move(*r));
    return true;
  }

  bool perform() noexcept {
    result_type r = call_();
    if (!r && would_block(r.error())) {
      reg_->ran_dry(reads);
      return false;
    }
    if constexpr (requires { call_.ran_dry(r); }) {
      if (call_.ran_dry(r)) reg_->ran_dry(reads);
    }
    result_.emplace(std::move(r));
    return true;
  }

  Call call_;
  io_registration* reg_;
  bool stopped_ = false;
  bool waiting_ = false;  // op_ is made
  std::optional<result_type> result_;
  union {
    waiting op_;
  };
};

template <class Call, io_operation::direction Dir>
io_awaiter(io_registration&, io_side<Dir>, Call) -> io_awaiter<Call, Dir>;
template <class Call, io_operation::direction Dir>
io_awaiter(io_side<Dir>, Call) -> io_awaiter<Call, Dir>;

// A completion's negative result as an error code.
inline std::error_code kernel_error(std::int32_t res) noexcept {
  return {-res, std::system_category()};
}

// --- the operations every socket class shares, each one line over io_awaiter ----------------
// `Raw` is a corio::net socket; it and `reg` belong to the calling socket object, which must
// neither move nor die while the operation is pending.

template <class Raw>
struct read_some_call {
  Raw* raw;
  std::span<std::byte> buf;
  result<std::size_t> operator()() { return raw->read(buf); }
  // A stream read shorter than the buffer emptied the kernel's queue (end of stream, 0, does
  // not: no edge follows it).
  bool ran_dry(const result<std::size_t>& r) const noexcept {
    return r && *r > 0 && *r < buf.size();
  }
  std::span<std::byte> unread() const noexcept { return buf; }  // a stream's bytes
  void prepare(io_request& r) noexcept {
    r.op = io_request::kind::recv;
    r.stream = true;
    r.data = buf.data();
    r.size = buf.size();
  }
  std::optional<result<std::size_t>> consume(std::int32_t res) noexcept {
    if (res < 0) return kernel_error(res);
    return static_cast<std::size_t>(res);
  }
};

template <class Raw>
struct write_some_call {
  Raw* raw;
  std::span<const std::byte> buf;
  result<std::size_t> operator()() { return raw->write(buf); }
  // A partial stream write filled the kernel's send buffer.
  bool ran_dry(const result<std::size_t>& r) const noexcept { return r && *r < buf.size(); }
  void prepare(io_request& r) noexcept {
    r.op = io_request::kind::send;
    r.data = const_cast<std::byte*>(buf.data());  // the kernel only reads it
    r.size = buf.size();
  }
  std::optional<result<std::size_t>> consume(std::int32_t res) noexcept {
    if (res < 0) return kernel_error(res);
    return static_cast<std::size_t>(res);
  }
};

// Reads until `buf` is full; end of stream first is error::end_of_stream.
template <class Raw>
struct read_exact_call {
  Raw* raw;
  std::span<std::byte> buf;
  std::size_t done = 0;
  std::span<std::byte> unread() const noexcept { return buf.subspan(done); }
  result<void> operator()() {
    while (done < buf.size()) {
      auto n = raw->read(buf.subspan(done));
      if (!n) return n.error();
      if (*n == 0) return error::end_of_stream;
      done += *n;
    }
    return {};
  }
  void prepare(io_request& r) noexcept {
    r.op = io_request::kind::recv;
    r.stream = true;
    r.data = buf.data() + done;
    r.size = buf.size() - done;
  }
  std::optional<result<void>> consume(std::int32_t res) noexcept {
    if (res < 0) return result<void>(kernel_error(res));
    if (res == 0 && !buf.empty()) return result<void>(error::end_of_stream);
    done += static_cast<std::size_t>(res);
    if (done < buf.size()) return std::nullopt;
    return result<void>();
  }
};

// Writes all of `buf`, however many partial writes that takes.
template <class Raw>
struct write_all_call {
  Raw* raw;
  std::span<const std::byte> buf;
  std::size_t done = 0;
  result<void> operator()() {
    while (done < buf.size()) {
      auto n = raw->write(buf.subspan(done));
      if (!n) return n.error();
      done += *n;
    }
    return {};
  }
  void prepare(io_request& r) noexcept {
    r.op = io_request::kind::send;
    r.data = const_cast<std::byte*>(buf.data() + done);
    r.size = buf.size() - done;
  }
  std::optional<result<void>> consume(std::int32_t res) noexcept {
    if (res < 0) return result<void>(kernel_error(res));
    done += static_cast<std::size_t>(res);
    if (done < buf.size()) return std::nullopt;
    return result<void>();
  }
};

// Accepts one connection and registers it on this thread as a `Stream`.
template <class Stream, class RawListener>
struct accept_call {
  using raw_stream = typename decltype(std::declval<RawListener&>().accept())::value_type::first_type;
  using accepted = std::pair<Stream, net::socket_address>;
  RawListener* raw;
  net::socket_address peer{};
  std::uint32_t peer_len = 0;

  static result<accepted> adopt(raw_stream s, const net::socket_address& from) {
    auto stream = Stream::from_raw(std::move(s));
    if (!stream) return stream.error();
    return accepted{std::move(*stream), from};
  }
  result<accepted> operator()() {
    auto r = raw->accept();
    if (!r) return r.error();
    return adopt(std::move(r->first), r->second);
  }
  void prepare(io_request& req) noexcept {
    peer_len = net::socket_address::capacity();
    req.op = io_request::kind::accept;
    req.data = peer.data();
    req.size = peer_len;
    req.addr_len = &peer_len;
  }
  std::optional<result<accepted>> consume(std::int32_t res) {
    if (res < 0) return result<accepted>(kernel_error(res));
    peer.resize(peer_len);
    return adopt(raw_stream::from_fd(unique_fd(res)), peer);
  }
};

template <class Raw>
auto read_some(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, reading, read_some_call<Raw>{&raw, buf});
}

template <class Raw>
auto write_some(Raw& raw, io_registration& reg, std::span<const std::byte> buf) noexcept {
  return io_awaiter(reg, writing, write_some_call<Raw>{&raw, buf});
}

template <class Raw>
auto read_exact(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, reading, read_exact_call<Raw>{&raw, buf});
}

template <class Raw>
auto write_all(Raw& raw, io_registration& reg, std::span<const std::byte> buf) noexcept {
  return io_awaiter(reg, writing, write_all_call<Raw>{&raw, buf});
}

template <class Stream, class RawListener>
auto accept_one(RawListener& raw, io_registration& reg) noexcept {
  return io_awaiter(reg, reading, accept_call<Stream, RawListener>{&raw});
}

// Datagrams to an address: sendmsg with the address copied into the call (the awaiter may
// outlive the caller's temporary).
template <class Raw>
struct send_to_call {
  Raw* raw;
  std::span<const std::byte> buf;
  net::socket_address to;
  msg_storage message{};
  result<std::size_t> operator()() { return raw->send_to(buf, to); }
  void prepare(io_request& r) noexcept {
    prepare_message(message, const_cast<std::byte*>(buf.data()), buf.size(), to.data(), to.size());
    r.op = io_request::kind::sendmsg;
    r.data = &message;
  }
  std::optional<result<std::size_t>> consume(std::int32_t res) noexcept {
    if (res < 0) return kernel_error(res);
    return static_cast<std::size_t>(res);
  }
};

template <class Raw>
struct recv_from_call {
  using received = std::pair<std::size_t, net::socket_address>;
  Raw* raw;
  std::span<std::byte> buf;
  net::socket_address from{};
  msg_storage message{};
  result<received> operator()() { return raw->recv_from(buf); }
  void prepare(io_request& r) noexcept {
    prepare_message(message, buf.data(), buf.size(), from.data(), net::socket_address::capacity());
    r.op = io_request::kind::recvmsg;
    r.data = &message;
  }
  std::optional<result<received>> consume(std::int32_t res) noexcept {
    if (res < 0) return result<received>(kernel_error(res));
    from.resize(message_address_length(message));
    return result<received>(received{static_cast<std::size_t>(res), from});
  }
};

template <class Raw>
struct send_call : write_some_call<Raw> {
  result<std::size_t> operator()() { return this->raw->send(this->buf); }
  bool ran_dry(const result<std::size_t>&) const noexcept { return false; }  // a datagram
};

template <class Raw>
struct recv_call : read_some_call<Raw> {
  result<std::size_t> operator()() { return this->raw->recv(this->buf); }
  // A short datagram says nothing about the next one queued behind it.
  bool ran_dry(const result<std::size_t>&) const noexcept { return false; }
  void unread() = delete;  // datagrams are not received ahead: every recv is submitted
  void prepare(io_request& r) noexcept {
    read_some_call<Raw>::prepare(r);
    r.stream = false;  // a datagram keeps its boundaries
  }
};

template <class Raw, class Address>
auto send_to(Raw& raw, io_registration& reg, std::span<const std::byte> buf,
             const Address& to) noexcept {
  return io_awaiter(reg, writing, send_to_call<Raw>{&raw, buf, to});
}

template <class Raw>
auto recv_from(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, reading, recv_from_call<Raw>{&raw, buf});
}

template <class Raw>
auto send(Raw& raw, io_registration& reg, std::span<const std::byte> buf) noexcept {
  return io_awaiter(reg, writing, send_call<Raw>{{&raw, buf}});
}

template <class Raw>
auto recv(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, reading, recv_call<Raw>{{&raw, buf}});
}

// A connect in progress owns the stream it makes. Readiness: connect(2) was started with the
// stream; it finishes when the stream is writable and `Stream::connect_status` (SO_ERROR, then
// "is there a peer yet") stops saying would-block. Completion kernel: the stream was opened
// unconnected and the whole connect is one request (prepare/consume).
template <class Stream>
struct connecting {
  Stream stream;          // registered on this thread, or empty when creating it failed
  std::error_code error;  // why it could not be created
  net::socket_address to;

  io_registration& registration() noexcept { return stream.registration(); }
  result<Stream> operator()() {
    if (error) return error;
    if (auto ec = stream.connect_status()) return ec;
    return std::move(stream);
  }
  void prepare(io_request& r) noexcept {
    r.op = io_request::kind::connect;
    r.data = to.data();
    r.size = to.size();
  }
  std::optional<result<Stream>> consume(std::int32_t res) {
    if (res < 0) return result<Stream>(kernel_error(res));
    return result<Stream>(std::move(stream));
  }
};

template <class Stream>
auto connect(result<Stream> started, const net::socket_address& to) noexcept {
  connecting<Stream> c;
  c.to = to;
  if (started) {
    c.stream = std::move(*started);
  } else {
    c.error = started.error();
  }
  return io_awaiter(writing, std::move(c));
}

}  // namespace corio::detail
