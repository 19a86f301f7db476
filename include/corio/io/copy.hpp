// copy_bidirectional: relays two streams into each other until both directions ended; the heart
// of a proxy.
//
//   auto moved = co_await corio::copy_bidirectional(client, upstream, {.idle_timeout = 30s});
//   // result<copy_counts>: bytes client→upstream and upstream→client
//
// Contracts and sharp edges:
// - Half-close passes through: end of stream read from one side becomes shutdown_write() on the
//   other, and the opposite direction carries on until it ends too. It returns when both
//   directions ended (the value), or at the first failure.
// - A failure in either direction (reset, a write to a closed peer, a cancel) ends the other
//   direction at once (it is cancelled) and is the result: a relay with one dead side has
//   nothing more to do. The counts are then lost; the streams are left open for the caller to
//   close.
// - idle_timeout (zero: none): when no byte moved either way for that long, both directions
//   are cancelled and the result is std::errc::timed_out. It costs one clock read per read and
//   write, and one timer per idle period, not per operation.
// - Memory: each direction reads into buffer_size bytes inside its own coroutine frame (from the
//   frame pool; keep it at most 16 KiB minus a little so the frames stay pooled).
// - A stop request on the awaiting task cancels both directions; the result is then
//   operation_canceled. Both directions have finished when it returns (nothing is pending on
//   either stream), so the caller may close or destroy them.
// - Streams: anything with read(span), write_all(span) and shutdown_write(), on this thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include <corio/error.hpp>
#include <corio/sync/event.hpp>
#include <corio/task.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

namespace corio {

struct copy_counts {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
};

struct copy_options {
  std::chrono::milliseconds idle_timeout{0};
};

namespace detail {

struct relay_state {
  using clock = std::chrono::steady_clock;
  bool track_idle = false;
  clock::time_point last_activity = clock::now();
  std::error_code failure;        // the first direction to fail says why
  manual_reset_event failed;      // wakes the guard, which then cancels the other direction
  copy_counts counts;

  void touch() noexcept {
    if (track_idle) last_activity = clock::now();
  }
  void fail(std::error_code ec) noexcept {
    if (!failure) failure = ec;
    failed.set();
  }
};

inline constexpr std::size_t relay_buffer_size = 8192;

template <class From, class To>
task<> relay_one_way(From& from, To& to, relay_state& st, std::uint64_t& moved) {
  std::array<std::byte, relay_buffer_size> buffer;
  for (unsigned round = 1;; ++round) {
    auto n = co_await from.read(buffer);
    if (!n) {
      st.fail(n.error());
      co_return;
    }
    if (*n == 0) {
      // Pass the half-close on. A peer already gone shows up on the other direction.
      (void)to.shutdown_write();
      co_return;
    }
    st.touch();
    if (auto w = co_await to.write_all(std::span(buffer).first(*n)); !w) {
      st.fail(w.error());
      co_return;
    }
    moved += *n;
    st.touch();
    if (round % 16 == 0) co_await yield();  // an always-ready pair must not starve the thread
  }
}

template <class A, class B>
task<> relay_both_ways(A& a, B& b, relay_state& st) {
  co_await when_all(relay_one_way(a, b, st, st.counts.a_to_b),
                    relay_one_way(b, a, st, st.counts.b_to_a));
}

// Finishes (and so, under when_any, cancels the relay) on a failure or after idle_timeout
// without traffic.
inline task<std::error_code> relay_guard(relay_state& st, std::chrono::milliseconds idle) {
  if (!st.track_idle) {
    auto r = co_await st.failed.wait();
    co_return r ? st.failure : r.error();
  }
  for (;;) {
    const auto deadline = st.last_activity + idle;
    const auto now = relay_state::clock::now();
    if (now >= deadline) co_return std::make_error_code(std::errc::timed_out);
    auto r = co_await timeout(deadline - now, st.failed.wait());
    if (r) co_return st.failure;
    if (r.error() != std::errc::timed_out) co_return r.error();  // cancelled
  }
}

}  // namespace detail

template <class A, class B>
task<result<copy_counts>> copy_bidirectional(A& a, B& b, copy_options options = {}) {
  detail::relay_state st;
  st.track_idle = options.idle_timeout > std::chrono::milliseconds::zero();
  auto first = co_await when_any(detail::relay_both_ways(a, b, st),
                                 detail::relay_guard(st, options.idle_timeout));
  // The guard's reason first: after an idle timeout the directions failed only because it
  // cancelled them.
  if (first.index == 1) {
    if (auto ec = std::get<1>(first.value)) co_return ec;
  }
  if (st.failure) co_return st.failure;
  co_return st.counts;
}

}  // namespace corio
