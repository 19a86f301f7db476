// The non-template engine under corio::event_loop<Message>: registrations, timeouts, signals
// and one turn of the reactor. The template adds only the message queue and the dispatch to a
// handler, so almost all of the loop is compiled once, in lib/callback/loop_core.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <corio/error.hpp>
#include <corio/reactor.hpp>
#include <corio/signal.hpp>

namespace corio {

namespace detail {
class clock;
class loop_core_access;
}  // namespace detail

struct loop_options {
  backend_kind backend = backend_kind::automatic;
  // Upper bound on the readiness events taken from the kernel per turn.
  std::size_t events_per_turn = 1024;
  // Tests substitute a manual clock; nullptr reads std::chrono::steady_clock.
  const detail::clock* clock = nullptr;
  // While zero-delay work is queued (a zero timeout, a hang-up reported again), a turn runs it
  // without asking the kernel for readiness, until this many callbacks have run since the kernel
  // was last asked: a handler that re-queues itself costs no system call per turn, yet cannot
  // starve I/O or signals. Like tokio's event_interval (61). 0 or 1: ask every turn. Timers
  // are not delayed: each turn hands out those due.
  std::uint32_t callbacks_per_io_poll = 61;
};

// Names one armed timeout. Clearing a handle whose timeout fired or was cleared is harmless: the
// generation no longer matches.
class timeout_handle {
 public:
  constexpr timeout_handle() noexcept = default;
  constexpr bool operator==(const timeout_handle&) const noexcept = default;

 private:
  friend class detail::loop_core_access;
  constexpr timeout_handle(std::uint32_t index, std::uint32_t generation) noexcept
      : index_(index), generation_(generation) {}
  std::uint32_t index_ = 0;
  std::uint32_t generation_ = 0;  // 0 never names a live timeout
};

namespace detail {

// One fd's registration. Its reactor token, the key of its events, is (generation << 32 | fd):
// an event whose key names an older generation belongs to a registration removed or replaced
// since, and is dropped.
struct fd_slot {
  std::uint64_t live_key = 0;  // the key of its events while live, else 0 (never a key)
  token user{};
  std::uint32_t generation = 0;
  interest wanted = interest::readable;
  bool live = false;
  bool hangup_queued = false;  // its hang-up is reported again next turn (see turn())
};

// What one turn produced besides readiness, handed out one at a time so that a handler's actions (removing a
// registration, clearing a timeout) affect the events still waiting in the same turn.
struct loop_event {
  enum class kind : std::uint8_t { io, timeout, signal };
  kind what = kind::io;
  token tok{};
  std::uint8_t flags = 0;       // event::flag bits, for io
  std::uint64_t key = 0;        // identifies the registration, for io (see still_registered)
  signal_info signal{};
};

class loop_core {
 public:
  static result<std::unique_ptr<loop_core>> create(const loop_options& options);
  ~loop_core();
  loop_core(const loop_core&) = delete;
  loop_core& operator=(const loop_core&) = delete;

  backend_kind backend() const noexcept;

  // fd registrations, keyed by fd. Adding an fd whose earlier registration went stale (the fd
  // was closed and its number reused without a remove) replaces it; events of the old one are
  // dropped.
  result<void> add(int fd, token t, interest i);
  result<void> modify(int fd, token t, interest i);
  result<void> remove(int fd);
  // The live registration behind an io event's key; nullptr once it was removed or replaced,
  // and for the loop's own registrations (see unmatched_event). Inline: the template checks
  // every event with it, as the event is dispatched, so that a callback's remove() or modify()
  // takes effect for the later events of the same turn.
  const fd_slot* slot_of(std::uint64_t key) const noexcept {
    const auto fd = static_cast<std::uint32_t>(key);
    if (fd >= fd_count_) return nullptr;
    const fd_slot& s = fd_table_[fd];
    return s.live_key == key ? &s : nullptr;
  }
  // False once the registration behind an io event's key was removed or replaced.
  bool still_registered(std::uint64_t key) const noexcept { return slot_of(key) != nullptr; }
  // The interest of the registration behind an io event, so error/hang-up flags reach only
  // the callbacks that were asked for.
  std::optional<interest> interest_of(std::uint64_t key) const noexcept {
    const fd_slot* s = slot_of(key);
    if (!s) return std::nullopt;
    return s->wanted;
  }

  result<timeout_handle> arm_timeout(token t, std::chrono::nanoseconds after);
  bool clear_timeout(timeout_handle h) noexcept;
  std::size_t armed_timeouts() const noexcept;

  result<void> watch_signal(int signo);
  result<void> unwatch_signal(int signo);

  // Wakes turn() from any thread.
  const corio::waker& waker() const noexcept;

  // Blocks until readiness, the next timeout, a wake, or `max_wait` (nullopt: no limit); zero
  // when the caller has work pending. Skips the kernel while zero-delay work is queued, within
  // loop_options::callbacks_per_io_poll. Afterwards io_batch() holds the turn's readiness and
  // next() hands out the rest (hang-ups reported again, timeouts, signals), in that order.
  // A hang-up (read_closed or error) is handed out once more in the next turn, as readable and
  // read_closed: its edge may have come with the last data, so a handler can stop reading at a
  // short read (the kernel's queue ran dry: the next data raises a new edge) and still be told
  // to read on to the end of stream.
  result<void> turn(std::optional<std::chrono::nanoseconds> max_wait);
  bool next(loop_event& out) noexcept;
  // False once next() knows it would return false: the template skips that last call.
  bool rest_pending() const noexcept { return rest_pending_; }

  // The turn's readiness as the reactor reported it, walked inline by the template (so that an
  // event costs no call into the library): an event's token is its key, for slot_of().
  std::span<const event> io_batch() const noexcept { return {io_first_, io_count_}; }
  // An event of the batch that slot_of() does not match: the waker's, the signal pipe's, or
  // one of a registration gone since.
  void unmatched_event(std::uint64_t key) noexcept;
  // An event of the batch with read_closed or error: reported once more in the next turn.
  void hangup_seen(std::uint64_t key) noexcept;

 private:
  friend class loop_core_access;
  struct state;
  explicit loop_core(std::unique_ptr<state> s) noexcept;
  static void begin_turn(state& s) noexcept;
  result<void> poll_turn(std::optional<std::chrono::nanoseconds> max_wait, bool work_queued);
  fd_slot* live_slot(std::uint64_t key) noexcept { return const_cast<fd_slot*>(slot_of(key)); }

  std::unique_ptr<state> state_;
  std::vector<fd_slot> fds_;  // indexed by fd
  // fds_'s data() and size(), kept by add(): slot_of() runs once or twice per event.
  const fd_slot* fd_table_ = nullptr;
  std::size_t fd_count_ = 0;
  const event* io_first_ = nullptr;
  std::size_t io_count_ = 0;
  bool rest_pending_ = false;
};

class loop_core_access {
 public:
  static timeout_handle make_handle(std::uint32_t index, std::uint32_t generation) noexcept {
    return {index, generation};
  }
  static std::uint32_t index(timeout_handle h) noexcept { return h.index_; }
  static std::uint32_t generation(timeout_handle h) noexcept { return h.generation_; }
};

}  // namespace detail
}  // namespace corio
