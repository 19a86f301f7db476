// The inside of corio::sim::world, shared by world.cpp (time, hosts, faults, trace) and udp.cpp
// (the datagram network).
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <corio/sim/tcp.hpp>
#include <corio/sim/udp.hpp>
#include <corio/sim/world.hpp>

#include "driver/clock.hpp"
#include "sim/tcp_impl.hpp"
#include "executor/executor.hpp"

namespace corio::sim {

// xoshiro256**, seeded by splitmix64: the same numbers on every platform and standard library
// (std::uniform_*_distribution are implementation-defined).
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept;
  std::uint64_t next() noexcept;
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }

 private:
  std::uint64_t s_[4];
};

namespace detail {

struct tcp_conn;
struct tcp_endpoint;
struct tcp_listen_state;

// ip << 16 | port: the key of a bound address.
inline std::uint64_t address_key(const net::socket_address& a) noexcept {
  const net::ip_address ip = a.ip();  // by value: bytes() refers into it
  const auto& b = ip.bytes();
  return (std::uint64_t{b[0]} << 40) | (std::uint64_t{b[1]} << 32) | (std::uint64_t{b[2]} << 24) |
         (std::uint64_t{b[3]} << 16) | a.port();
}

// A datagram in flight or queued at its socket. Recycled through a free list with its buffer,
// so a warmed-up network allocates nothing per message.
struct datagram {
  datagram* next = nullptr;
  host_id from_host = 0;
  host_id to_host = 0;
  net::socket_address from;
  net::socket_address to;
  std::vector<std::byte> bytes;
  std::size_t size = 0;
};

struct udp_state {
  world::impl* w = nullptr;
  host_id host = 0;
  std::uint64_t key = 0;  // ip << 16 | port
  net::socket_address address;
  datagram* head = nullptr;
  datagram* tail = nullptr;
  std::size_t queued = 0;
  recv_from_op* waiter = nullptr;
  bool closed = false;  // its host crashed: everything fails with connection_reset
};

// The coroutine that runs one task of a host; the world destroys it when it finished or when
// its host crashes. Its stop token (the host's) reaches every operation the task awaits.
struct host_frame {
  struct promise_type {
    world::impl* w = nullptr;
    std::stop_token stop;
    static void* operator new(std::size_t n) { return corio::detail::frame_allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept {
      corio::detail::frame_deallocate(p, n);
    }
    host_frame get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    // Suspends (the world destroys the frame) and tells the world there is one to reap.
    struct final_awaiter {
      world::impl* w;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<>) const noexcept;
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {w}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept;
    std::stop_token stop_token() const noexcept { return stop; }
  };
  std::coroutine_handle<promise_type> frame;
};

}  // namespace detail

struct world::impl {
  explicit impl(world& owner, std::uint64_t seed);

  struct host {
    std::function<task<>()> boot;
    bool up = true;
    std::uint32_t incarnation = 0;
    sim::disk disk;
    std::vector<std::coroutine_handle<detail::host_frame::promise_type>> frames;
    std::stop_source stop;
    std::uint16_t next_port = 49152;
  };

  // tcp_*: a stream's SYN reaching the listener's host, the answer reaching the connecting one,
  // a pipe's first segment arriving, a reset reaching an endpoint.
  enum class event_kind : std::uint8_t {
    deliver, crash, restart, tcp_syn, tcp_synack, tcp_arrive, tcp_rst
  };
  struct event {
    std::int64_t at = 0;
    std::uint64_t tie = 0;  // seeded: which of two events due at once goes first
    std::uint64_t seq = 0;
    event_kind kind = event_kind::deliver;
    host_id host = 0;
    detail::datagram* d = nullptr;
    std::uint32_t conn = 0;  // tcp_*: the connection's index and generation
    std::uint32_t generation = 0;
    std::uint8_t side = 0;
    std::uint8_t flag = 0;  // tcp_synack: refused; tcp_rst: timed out
  };
  struct later {
    bool operator()(const event& a, const event& b) const noexcept {
      if (a.at != b.at) return a.at > b.at;
      if (a.tie != b.tie) return a.tie > b.tie;
      return a.seq > b.seq;
    }
  };

  // The backend's wait: see sim_backend.hpp.
  void step(std::optional<std::chrono::nanoseconds> timeout);
  bool process_due(bool quiescent);
  void push(event e);
  void crash_now(host_id h);
  void restart_now(host_id h);
  void reap_finished();
  void destroy_all_frames();
  void run(std::int64_t stop_at);

  // The network (udp.cpp).
  result<detail::udp_state*> bind(const net::socket_address& at);
  void unbind(detail::udp_state* s) noexcept;
  void send(detail::udp_state& s, std::span<const std::byte> buf, const net::socket_address& to);
  void deliver(detail::datagram* d);
  detail::datagram* take_datagram();
  void recycle(detail::datagram* d) noexcept;
  std::optional<host_id> host_of(const net::ip_address& ip) const noexcept;
  bool is_cut(host_id a, host_id b) const;
  const link_faults& faults(host_id from, host_id to) const;

  // The streams (tcp.cpp).
  result<detail::tcp_listen_state*> tcp_bind(const net::socket_address& at, std::size_t backlog);
  bool tcp_unbind(detail::tcp_listen_state* s) noexcept;  // true: freed later (a crash)
  std::error_code tcp_connect(detail::connect_op& op, const net::socket_address& to,
                              const net::ip_address& from, detail::tcp_endpoint*& out);
  void tcp_abandon(detail::tcp_endpoint& e) noexcept;  // a connect given up before its answer
  void tcp_close(detail::tcp_endpoint& e) noexcept;
  result<void> tcp_shutdown(detail::tcp_endpoint& e);
  void tcp_sent(detail::tcp_endpoint& e, bool fin);  // bytes (or a FIN) entered e's pipe
  void tcp_consumed(detail::tcp_endpoint& e);  // e read bytes: room for its peer's writer
  void tcp_event(const event& e);
  void tcp_reset_now(detail::tcp_conn& c, std::uint8_t side, std::error_code why,
                     bool wake) noexcept;
  void tcp_drop_queue(detail::tcp_listen_state& l) noexcept;
  void tcp_send_rst(detail::tcp_conn& c, std::uint8_t to_side) noexcept;
  void tcp_crash_mark(host_id h) noexcept;  // before the host's frames go
  void tcp_crash_wake(host_id h) noexcept;  // after: operations of sockets outside its tasks
  void tcp_free(detail::tcp_conn& c) noexcept;
  void tcp_free_if_unused(detail::tcp_conn& c) noexcept;
  void tcp_schedule(detail::tcp_conn& c, event_kind k, std::uint8_t side, std::int64_t at,
                    std::uint8_t flag = 0);
  std::int64_t draw_latency(host_id from, host_id to);
  bool tcp_reset_one(detail::tcp_conn& c) noexcept;

  // Trace: a digest of every event always; text only when enabled.
  void trace(const char* what, const char* detail_fmt = nullptr, ...)
      __attribute__((format(printf, 3, 4)));
  void mix(std::uint64_t v) noexcept;

  std::int64_t now_ns() const noexcept;

  world& owner;
  std::uint64_t seed;
  rng random;
  corio::detail::manual_clock clock;
  std::unique_ptr<corio::detail::executor> ex;
  std::vector<std::unique_ptr<host>> hosts;

  link_faults default_link;
  std::map<std::pair<host_id, host_id>, link_faults> links;
  std::set<std::pair<host_id, host_id>> cuts;
  std::map<std::uint64_t, detail::udp_state*> bound;

  stream_options streams;
  std::vector<std::unique_ptr<detail::tcp_conn>> conns;  // recycled with their rings
  std::vector<std::uint32_t> free_conns;
  std::map<std::uint64_t, detail::tcp_listen_state*> listeners;
  std::set<std::uint64_t> tcp_ports;  // the connecting sides' addresses in use
  std::optional<host_id> crashing;    // while its frames are being destroyed
  std::vector<detail::tcp_listen_state*> doomed_listeners;

  std::vector<event> queue;  // a heap by `later`
  std::uint64_t next_seq = 0;
  detail::datagram* free_datagrams = nullptr;
  std::vector<std::unique_ptr<detail::datagram>> all_datagrams;

  bool done = false;
  bool finished_frames = false;  // some host frame finished: reap at the next quiet step
  bool stop_requested = false;
  std::int64_t stop_at = 0;
  const std::function<bool()>* until = nullptr;
  std::function<void()> step_hook;
  std::exception_ptr failure;

  bool tracing = false;
  std::string text;
  std::uint64_t digest = 0xcbf29ce484222325ull;
};

}  // namespace corio::sim
