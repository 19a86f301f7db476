// The one primitive under every socket awaitable (tcp.hpp, udp.hpp, unix.hpp): a syscall
// driven by readiness. Each socket operation is a one-line wrapper that hands io_awaiter a
// callable doing the non-blocking syscall; io_awaiter runs it, and while it would block
// (EAGAIN) waits for the socket's edge-triggered readiness and runs it again.
//
// Invariants:
// - The syscall is always tried before waiting: with edge-triggered readiness, data that arrived
//   earlier produces no new event, so waiting first could wait forever.
// - The first try happens in await_suspend, not await_ready, because only there is the awaiting
//   coroutine's stop token visible: a task that was asked to stop gets operation_canceled from
//   every later co_await, even one whose syscall would succeed at once (an echo loop on a busy
//   peer still stops). Returning false from await_suspend resumes at once, no real suspension.
// - The callable may keep progress between tries (read_exact, write_all): perform() runs it
//   until it finishes or would block, so a whole loop is one awaitable and one suspension at a
//   time, with no coroutine frame and no allocation. Its state lives in the awaiting frame.
// - Readiness-based: a cancelled operation made no syscall that moved data after its last
//   would-block, so a cancelled read leaves the bytes in the kernel. A cancelled read_exact or
//   write_all may have moved part of the buffer before it waited (the count is lost).
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <span>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>

#include <corio/detail/executor.hpp>
#include <corio/error.hpp>
#include <corio/net/address.hpp>

namespace corio::detail {

template <class Call>
class [[nodiscard]] io_awaiter final : public io_operation {
 public:
  using result_type = std::invoke_result_t<Call&>;

  // Waits on `reg`, which must outlive the awaiter (it is the socket's).
  io_awaiter(io_registration& reg, direction dir, Call call) noexcept(
      std::is_nothrow_move_constructible_v<Call>)
      : call_(std::move(call)), reg_(&reg), dir_(dir) {}

  // For a call that owns the socket it waits on (connect): the registration is the call's.
  io_awaiter(direction dir, Call call) noexcept(std::is_nothrow_move_constructible_v<Call>)
      : call_(std::move(call)), reg_(&call_.registration()), dir_(dir) {}

  bool await_ready() const noexcept { return false; }

  // True keeps the coroutine suspended until readiness (or a stop request) resumes it.
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    const std::stop_token stop = stop_token_of(h);
    if (stop.stop_requested()) {
      stopped_ = true;
      return false;
    }
    if (perform()) return false;
    return suspend(h, stop, *reg_, dir_);
  }

  result_type await_resume() noexcept(std::is_nothrow_move_constructible_v<result_type>) {
    disarm();
    if (stopped_ || canceled()) return std::make_error_code(std::errc::operation_canceled);
    if (result_) return std::move(*result_);
    return suspend_error();  // busy (another waiter in this direction) or no registration
  }

  bool perform() noexcept override {
    result_type r = call_();
    if (!r && would_block(r.error())) return false;
    result_.emplace(std::move(r));
    return true;
  }

 private:
  Call call_;
  io_registration* reg_;
  direction dir_;
  bool stopped_ = false;
  std::optional<result_type> result_;
};

// --- the operations every socket class shares, each one line over io_awaiter ----------------
// `Raw` is a corio::net socket; it and `reg` belong to the calling socket object, which must
// neither move nor die while the operation is pending.

using io_direction = io_operation::direction;

template <class Raw>
auto read_some(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::read, [&raw, buf] { return raw.read(buf); });
}

template <class Raw>
auto write_some(Raw& raw, io_registration& reg, std::span<const std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::write, [&raw, buf] { return raw.write(buf); });
}

// Reads until `buf` is full; end of stream first is error::end_of_stream.
template <class Raw>
auto read_exact(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::read,
                    [&raw, buf, done = std::size_t{0}]() mutable -> result<void> {
                      while (done < buf.size()) {
                        auto n = raw.read(buf.subspan(done));
                        if (!n) return n.error();
                        if (*n == 0) return error::end_of_stream;
                        done += *n;
                      }
                      return {};
                    });
}

// Writes all of `buf`, however many partial writes that takes.
template <class Raw>
auto write_all(Raw& raw, io_registration& reg, std::span<const std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::write,
                    [&raw, buf, done = std::size_t{0}]() mutable -> result<void> {
                      while (done < buf.size()) {
                        auto n = raw.write(buf.subspan(done));
                        if (!n) return n.error();
                        done += *n;
                      }
                      return {};
                    });
}

// Accepts one connection and registers it on this thread as a `Stream`.
template <class Stream, class RawListener>
auto accept_one(RawListener& raw, io_registration& reg) noexcept {
  return io_awaiter(reg, io_direction::read, [&raw] {
    using accepted = std::pair<Stream, net::socket_address>;
    auto r = raw.accept();
    if (!r) return result<accepted>(r.error());
    auto s = Stream::from_raw(std::move(r->first));
    if (!s) return result<accepted>(s.error());
    return result<accepted>(accepted{std::move(*s), r->second});
  });
}

template <class Raw, class Address>
auto send_to(Raw& raw, io_registration& reg, std::span<const std::byte> buf,
             const Address& to) noexcept {
  // The address is copied: the awaiter may outlive the caller's temporary.
  return io_awaiter(reg, io_direction::write, [&raw, buf, to] { return raw.send_to(buf, to); });
}

template <class Raw>
auto recv_from(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::read, [&raw, buf] { return raw.recv_from(buf); });
}

template <class Raw>
auto send(Raw& raw, io_registration& reg, std::span<const std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::write, [&raw, buf] { return raw.send(buf); });
}

template <class Raw>
auto recv(Raw& raw, io_registration& reg, std::span<std::byte> buf) noexcept {
  return io_awaiter(reg, io_direction::read, [&raw, buf] { return raw.recv(buf); });
}

// A connect in progress owns the stream it makes; it finishes when the stream is writable and
// `Stream::connect_status` (SO_ERROR, then "is there a peer yet") stops saying would-block.
template <class Stream>
struct connecting {
  Stream stream;          // registered on this thread, or empty when creating it failed
  std::error_code error;  // why it could not be created

  io_registration& registration() noexcept { return stream.registration(); }
  result<Stream> operator()() {
    if (error) return error;
    if (auto ec = stream.connect_status()) return ec;
    return std::move(stream);
  }
};

template <class Stream>
auto connect(result<Stream> started) noexcept {
  connecting<Stream> c;
  if (started) {
    c.stream = std::move(*started);
  } else {
    c.error = started.error();
  }
  return io_awaiter(io_direction::write, std::move(c));
}

}  // namespace corio::detail
