// The inside of the simulated streams (tcp.cpp): a connection is two endpoints and two pipes,
// one per direction. A pipe is a ring of written-but-unread bytes, counted by stream offsets:
//
//   read <= delivered <= written,   written - read <= capacity
//
// [read, delivered) has arrived and can be read; [delivered, written) is in flight, described
// by a few segments (end offset, arrival instant) whose instants never decrease, so bytes arrive
// in order. One arrival event per pipe is in the world's queue at a time, for its first segment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

#include <corio/net/address.hpp>
#include <corio/sim/tcp.hpp>
#include <corio/sim/world.hpp>

namespace corio::sim::detail {

struct tcp_conn;

struct tcp_pipe {
  struct segment {
    std::uint64_t end = 0;
    std::int64_t at = 0;
    bool fin = false;
  };
  static constexpr std::size_t max_segments = 32;  // more writes in flight merge into the last

  std::unique_ptr<std::byte[]> ring;
  std::size_t capacity = 0;
  std::uint64_t written = 0;
  std::uint64_t delivered = 0;
  std::uint64_t read = 0;
  std::array<segment, max_segments> segments;
  std::size_t first = 0;  // index of the oldest segment in flight
  std::size_t count = 0;
  std::int64_t last_arrival = 0;  // no segment may arrive before the one ahead of it
  std::int64_t stalled_since = -1;  // partitioned since (virtual ns), or -1
  bool fin_sent = false;       // the writer shut down (its FIN is in flight or arrived)
  bool fin_delivered = false;  // the reader sees end of stream once it read up to `written`
  bool event_queued = false;

  void reset_offsets() noexcept;
  std::size_t space() const noexcept { return capacity - static_cast<std::size_t>(written - read); }
  std::size_t readable() const noexcept { return static_cast<std::size_t>(delivered - read); }
};

struct tcp_endpoint {
  tcp_conn* conn = nullptr;
  std::uint8_t side = 0;  // 0: the connecting side, 1: the accepting one
  bool open = false;      // a tcp_stream (or the listener's queue) holds it
  bool queued = false;    // waiting in a listener's accept queue
  bool shut_write = false;
  // A reset (connection_reset or timed_out): the first read or write reports it, later reads
  // see end of stream and later writes broken_pipe (Linux reports a socket error once).
  std::error_code reset;
  bool reset_reported = false;
  stream_op_base* reader = nullptr;
  stream_op_base* writer = nullptr;
  tcp_endpoint* next_queued = nullptr;  // the listener's accept queue

  tcp_endpoint& peer() noexcept;
  tcp_pipe& out() noexcept;  // what this side writes
  tcp_pipe& in() noexcept;   // what this side reads
  host_id host() const noexcept;
  const net::socket_address& address() const noexcept;
  const net::socket_address& peer_address() const noexcept;
  void wake_all() noexcept;
};

struct tcp_conn {
  world::impl* w = nullptr;
  std::uint32_t index = 0;       // in the world's connection table
  std::uint32_t generation = 0;  // bumped when recycled: events for an older one are ignored
  bool live = false;
  bool established = false;
  host_id hosts[2] = {0, 0};
  net::socket_address addresses[2];
  tcp_endpoint ends[2];
  tcp_pipe pipes[2];  // pipes[s]: written by ends[s]
  connect_op* connecting = nullptr;
  tcp_listen_state* listener = nullptr;  // until the SYN arrives
};

struct tcp_listen_state {
  world::impl* w = nullptr;
  host_id host = 0;
  std::uint64_t key = 0;
  net::socket_address address;
  std::size_t backlog = 0;
  std::size_t queued = 0;
  tcp_endpoint* head = nullptr;
  tcp_endpoint* tail = nullptr;
  accept_op* waiter = nullptr;
  bool closed = false;  // its host crashed: accept fails with connection_reset... as a dead fd
};

}  // namespace corio::sim::detail
