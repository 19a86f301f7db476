// corio::sim::world: a deterministic world on one thread, on virtual time.
//
//   corio::sim::world w(seed);
//   auto a = w.add_host();                          // 10.0.0.1
//   auto b = w.add_host([] { return server(); });   // 10.0.0.2; restart() runs the boot again
//   w.spawn(a, client());                           // a task that belongs to host a
//   w.run_for(std::chrono::seconds(10));            // virtual: returns in microseconds
//
// Inside a world the ordinary awaitables work unchanged (sleep_for, interval, timeout, channels,
// when_any/when_all, cancellation): the world runs a corio executor whose backend, instead of
// blocking, moves a manual clock to the next timer or network event. A sleep of an hour costs
// nothing. Sockets are corio::sim::udp_socket (sim/udp.hpp), bound to a host's address.
//
// Determinism: every choice (latency, loss, duplication, reordering, which of two datagrams due
// at the same instant goes first, and so which ready task runs first) is drawn from the seed,
// so the same seed gives the same run; trace_digest() is a hash of every traced event, and
// trace() their text when enable_trace(true) was called before the run.
//
// Contracts and sharp edges:
// - One world per thread at a time; it installs its executor as the thread's current one (so
//   corio::spawn inside a world works, but such a task belongs to no host: a crash does not
//   end it. Start a host's tasks with world::spawn, or await them with when_all/when_any).
// - A crash ends the host's tasks (their frames are destroyed, at the end of the current virtual
//   instant, so no task is destroyed while it is queued to run), closes its sockets and loses
//   what its disk was told but not synced. restart() brings it back and runs its boot function.
// - Sockets must not outlive the world.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <corio/net/address.hpp>
#include <corio/task.hpp>

namespace corio::sim {

using host_id = std::uint32_t;
using duration = std::chrono::nanoseconds;

// How datagrams travel from one host to another. Latency is uniform in [min, max]; `reorder` is
// the chance that a datagram is held back by an extra reorder_delay (so later ones overtake it).
struct link_faults {
  duration latency_min = std::chrono::milliseconds(1);
  duration latency_max = std::chrono::milliseconds(5);
  double loss = 0.0;
  double duplicate = 0.0;
  double reorder = 0.0;
  duration reorder_delay = std::chrono::milliseconds(20);
};

// How simulated streams (sim/tcp.hpp) behave; set before the connections it should apply to.
struct stream_options {
  std::size_t buffer = 64 * 1024;  // per direction: bytes written and not yet read, at most
  duration retransmit = std::chrono::milliseconds(200);  // a lost or partitioned write retries
  duration give_up = std::chrono::seconds(30);  // stalled this long: reset (zero: never)
};

// A host's disk: named files, written and synced. Writes are visible at once to the host; only
// what was synced survives a crash. (A crash never tears a sync: it is all or nothing.)
class disk {
 public:
  void write(std::string_view file, std::string_view bytes);      // replaces the contents
  void append(std::string_view file, std::string_view bytes);
  void truncate(std::string_view file, std::size_t size);
  void sync();
  std::string read(std::string_view file) const;                 // "" when absent
  void lose_unsynced();                                           // the crash's part

 private:
  struct file {
    std::string name;
    std::string current;
    std::string durable;
    std::size_t dirty_from = static_cast<std::size_t>(-1);  // none
  };
  file& at(std::string_view name);
  std::vector<file> files_;
};

class world {
 public:
  explicit world(std::uint64_t seed);
  ~world();
  world(const world&) = delete;
  world& operator=(const world&) = delete;

  // The world running on this thread, or nullptr.
  static world* current() noexcept;

  std::uint64_t seed() const noexcept;

  // Host n (0-based) has address 10.0.0.(n+1).
  host_id add_host(std::function<task<>()> boot = {});
  std::size_t host_count() const noexcept;
  net::ip_address address_of(host_id h) const;
  bool is_up(host_id h) const;
  sim::disk& disk(host_id h);

  // Starts `work` on host h (at the current virtual instant). Ignored while h is down.
  void spawn(host_id h, task<> work);

  // Runs until `d` of virtual time passed. Rethrows an exception that escaped a host's task.
  void run_for(duration d);
  // Runs until `done()` (checked after every step) or `limit` passed; returns done().
  bool run_until(const std::function<bool()>& done, duration limit);
  // Called after every step of the run loop (e.g. a checker); may stop the run with stop().
  void on_step(std::function<void()> hook);
  void stop() noexcept;

  // Virtual time since the world began.
  duration now() const noexcept;

  // Faults; each takes effect for datagrams sent from now on (partitions also drop those in
  // flight when they arrive).
  void set_default_link(const link_faults& f);
  void set_link(host_id from, host_id to, const link_faults& f);  // one direction
  void clear_links();                                              // back to the default
  void partition(const std::vector<host_id>& side);  // cuts side from everyone else, both ways
  void cut(host_id a, host_id b);                     // both directions
  void heal();                                        // every cut and partition
  void crash(host_id h);
  void restart(host_id h);
  // Streams: the options for connections made from now on, and the `reset stream` fault: both
  // ends of one connection get connection_reset (in their next or pending read or write).
  void set_stream_options(const stream_options& o);
  bool reset_stream(const net::socket_address& a, const net::socket_address& b);  // found?
  bool reset_random_stream();  // one established connection, drawn from the seed; any?
  std::size_t stream_count() const noexcept;  // connections alive (not yet fully closed)

  // Seeded randomness for the test itself (fault schedules), from the world's own stream.
  std::uint64_t random() noexcept;
  double random_unit() noexcept;  // [0, 1)
  std::uint64_t random_below(std::uint64_t n) noexcept;

  // The trace: every delivery, drop, timer wake, crash and restart, with virtual timestamps.
  void enable_trace(bool on);
  const std::string& trace() const noexcept;
  std::uint64_t trace_digest() const noexcept;
  void note(std::string_view text);  // adds a line of the test's own
  // "CORIO_SIM_SEED=<seed> <command>": what a failing run prints to be replayed.
  std::string replay_command(std::string_view command) const;

  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

// The seed to use: CORIO_SIM_SEED from the environment when set, else `fallback`.
std::uint64_t seed_from_env(std::uint64_t fallback);

}  // namespace corio::sim
