// One turn of the callback loop: wait on the reactor (bounded by the next timeout) unless
// zero-delay work is queued, then hand out the readiness (io_batch(), walked by the template
// inline), hang-ups reported again, expired timeouts and signals. Everything is checked as it is
// handed out, not when the turn begins, so a remove() or clear_timeout() inside a callback takes
// effect for the events of the same turn.
#include <corio/detail/loop_core.hpp>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "driver/clock.hpp"
#include "driver/signals.hpp"
#include "driver/timer_wheel.hpp"

namespace corio::detail {
namespace {

// The reactor token of a user registration is (generation << 32 | fd). User generations never
// take the value below, so the loop's own registrations cannot be mistaken for a user's.
constexpr std::uint32_t internal_generation = 0xFFFF'FFFFu;
constexpr std::uint64_t waker_key = std::uint64_t{internal_generation} << 32;
constexpr std::uint64_t signals_key = waker_key | 1u;

constexpr std::uint64_t make_key(int fd, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

constexpr std::uint32_t next_generation(std::uint32_t g) noexcept {
  ++g;
  return (g == 0 || g == internal_generation) ? 1 : g;
}

constexpr std::uint32_t no_index = 0xFFFF'FFFFu;

struct timer_entry : timer_node {
  token user{};
  std::uint32_t index = 0;
  std::uint32_t generation = 1;
  std::uint32_t next_free = no_index;
  // Zero-delay timeouts skip the wheel (whose 1 ms ticks would delay them to the next tick):
  // they wait in the core's own FIFO, linked through these.
  timer_entry* soon_next = nullptr;
  timer_entry* soon_prev = nullptr;
  bool soon_queued = false;
};

// The zero-delay timeouts: one intrusive FIFO with O(1) push, pop and unlink (clear_timeout).
// The entries up to last_due run in the current turn; those armed during it, behind them, in the
// next one, so a handler that re-arms a zero timeout from its own callback yields to I/O once per
// turn instead of spinning inside one.
struct soon_queue {
  timer_entry* head = nullptr;
  timer_entry* tail = nullptr;
  timer_entry* last_due = nullptr;  // the last entry this turn hands out; nullptr: none left

  bool empty() const noexcept { return head == nullptr; }
  bool due() const noexcept { return last_due != nullptr; }
  void begin_turn() noexcept { last_due = tail; }

  void push(timer_entry& e) noexcept {
    e.soon_prev = tail;
    e.soon_next = nullptr;
    e.soon_queued = true;
    (tail ? tail->soon_next : head) = &e;
    tail = &e;
  }

  void unlink(timer_entry& e) noexcept {
    if (&e == last_due) last_due = e.soon_prev;  // the due ones are a prefix: still due, or none
    (e.soon_prev ? e.soon_prev->soon_next : head) = e.soon_next;
    (e.soon_next ? e.soon_next->soon_prev : tail) = e.soon_prev;
    e.soon_queued = false;
  }

  // The next entry due in this turn, unlinked, or nullptr.
  timer_entry* pop_due() noexcept {
    if (!last_due) return nullptr;
    timer_entry* e = head;
    if (e == last_due) last_due = nullptr;
    head = e->soon_next;
    (head ? head->soon_prev : tail) = nullptr;
    e->soon_queued = false;
    return e;
  }
};

// Timer entries live in fixed-size chunks so their addresses stay put while the wheel links
// them; freed entries are reused, so arming a timeout allocates only above the high-water mark.
class timer_slab {
 public:
  timer_entry& acquire() {
    if (free_ == no_index) [[unlikely]] grow();
    timer_entry& e = at(free_);
    free_ = e.next_free;
    ++live_;
    return e;
  }

  timer_entry* find(std::uint32_t index) noexcept {
    return index < capacity_ ? &at(index) : nullptr;
  }

  void release(timer_entry& e) noexcept {
    e.generation = next_generation(e.generation);
    e.next_free = free_;
    free_ = e.index;
    --live_;
  }

  std::size_t live() const noexcept { return live_; }

 private:
  static constexpr std::uint32_t chunk_size = 256;

  timer_entry& at(std::uint32_t index) noexcept {
    return chunks_[index / chunk_size][index % chunk_size];
  }

  [[gnu::noinline]] void grow() {
    chunks_.push_back(std::make_unique<timer_entry[]>(chunk_size));
    for (std::uint32_t i = chunk_size; i-- > 0;) {
      timer_entry& e = chunks_.back()[i];
      e.index = capacity_ + i;
      e.next_free = free_;
      free_ = e.index;
    }
    capacity_ += chunk_size;
  }

  std::vector<std::unique_ptr<timer_entry[]>> chunks_;
  std::uint32_t capacity_ = 0;
  std::uint32_t free_ = no_index;
  std::size_t live_ = 0;
};

}  // namespace

struct loop_core::state {
  state(corio::poll p, corio::waker w, std::size_t capacity, const clock& c,
        std::uint32_t per_poll)
      : poll(std::move(p)),
        waker(std::move(w)),
        ready(capacity),
        time(c),
        wheel(time.now_tick()),
        callbacks_per_poll(per_poll) {}

  corio::poll poll;
  corio::waker waker;
  events ready;
  time_source time;
  timer_wheel wheel;
  timer_slab timers;
  soon_queue soon;  // zero-delay timeouts
  std::optional<signal_pipe> signals;

  // Registrations whose hang-up (read_closed or error) this turn handed out: reported once
  // more, as readable, in the next turn, and the keys that turn hands out.
  std::vector<std::uint64_t> hangups_next_turn;
  std::vector<std::uint64_t> hangups_this_turn;
  std::size_t hangup_cursor = 0;

  // Callbacks handed out since the kernel was last asked for readiness, and the bound on them
  // while zero-delay work lets a turn skip asking (loop_options::callbacks_per_io_poll).
  std::uint64_t callbacks_since_poll = 0;
  const std::uint32_t callbacks_per_poll;

  // Cursor over the current turn.
  tick turn_tick = 0;
  bool signals_pending = false;
  std::array<signal_info, 32> signal_batch{};
  std::size_t signal_count = 0;
  std::size_t signal_cursor = 0;
};

loop_core::loop_core(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
loop_core::~loop_core() = default;

result<std::unique_ptr<loop_core>> loop_core::create(const loop_options& options) {
  auto p = corio::poll::create(options.backend);
  if (!p) return p.error();
  auto w = corio::waker::create(*p, token{waker_key});
  if (!w) return w.error();
  const clock& c = options.clock ? *options.clock : steady_clock_source();
  auto s = std::make_unique<state>(std::move(*p), std::move(*w), options.events_per_turn, c,
                                   options.callbacks_per_io_poll);
  return std::unique_ptr<loop_core>(new loop_core(std::move(s)));
}

backend_kind loop_core::backend() const noexcept { return state_->poll.kind(); }

result<void> loop_core::add(int fd, token t, interest i) {
  if (fd < 0) return errno_code(EBADF);
  auto& fds = fds_;
  if (static_cast<std::size_t>(fd) >= fds.size()) {
    fds.resize(static_cast<std::size_t>(fd) + 1);
    fd_table_ = fds.data();
    fd_count_ = fds.size();
  }
  fd_slot& slot = fds[static_cast<std::size_t>(fd)];
  // A live slot here is either a double registration (the kernel says EEXIST) or the ghost of a
  // closed fd whose number came back (the kernel accepts the add): the new generation retires it.
  const std::uint32_t generation = next_generation(slot.generation);
  auto r = state_->poll.registry().add(fd, token{make_key(fd, generation)}, i);
  if (!r) return r;
  slot = fd_slot{make_key(fd, generation), t, generation, i, true};
  return {};
}

result<void> loop_core::modify(int fd, token t, interest i) {
  auto& fds = fds_;
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds.size() ||
      !fds[static_cast<std::size_t>(fd)].live) {
    return corio::error::not_registered;
  }
  fd_slot& slot = fds[static_cast<std::size_t>(fd)];
  auto r = state_->poll.registry().modify(fd, token{make_key(fd, slot.generation)}, i);
  if (!r) {
    if (r.error() == corio::error::not_registered) {  // closed behind our back
      slot.live = false;
      slot.live_key = 0;
    }
    return r;
  }
  slot.user = t;
  slot.wanted = i;
  return {};
}

result<void> loop_core::remove(int fd) {
  auto& fds = fds_;
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds.size() ||
      !fds[static_cast<std::size_t>(fd)].live) {
    return corio::error::not_registered;
  }
  fd_slot& slot = fds[static_cast<std::size_t>(fd)];
  // Whatever the kernel answers (EBADF if the fd was closed first), the registration is over:
  // bumping the generation drops any of its events still queued in this turn.
  slot.live = false;
  slot.live_key = 0;
  slot.generation = next_generation(slot.generation);
  return state_->poll.registry().remove(fd);
}

result<timeout_handle> loop_core::arm_timeout(token t, std::chrono::nanoseconds after) {
  state& s = *state_;
  timer_entry& e = s.timers.acquire();
  e.user = t;
  if (after <= std::chrono::nanoseconds::zero()) {
    s.soon.push(e);
    return loop_core_access::make_handle(e.index, e.generation);
  }
  // At least one tick past the turn being dispatched, so a zero timeout re-armed from its own
  // callback waits for the next turn instead of firing forever within this one.
  s.wheel.insert(e, std::max(s.time.deadline_after(after), s.turn_tick + 1));
  return loop_core_access::make_handle(e.index, e.generation);
}

bool loop_core::clear_timeout(timeout_handle h) noexcept {
  timer_entry* e = state_->timers.find(loop_core_access::index(h));
  if (!e || e->generation != loop_core_access::generation(h)) return false;
  if (e->soon_queued) {
    state_->soon.unlink(*e);
  } else if (e->linked) {
    state_->wheel.remove(*e);
  } else {
    return false;
  }
  state_->timers.release(*e);
  return true;
}

std::size_t loop_core::armed_timeouts() const noexcept { return state_->timers.live(); }

result<void> loop_core::watch_signal(int signo) {
  state& s = *state_;
  if (!s.signals) {
    auto pipe = signal_pipe::open();
    if (!pipe) return pipe.error();
    auto r = s.poll.registry().add(pipe->read_fd(), token{signals_key}, interest::readable);
    if (!r) return r;
    s.signals.emplace(std::move(*pipe));
  }
  return s.signals->watch(signo);
}

result<void> loop_core::unwatch_signal(int signo) {
  if (!state_->signals) return corio::error::not_registered;
  return state_->signals->unwatch(signo);
}

const corio::waker& loop_core::waker() const noexcept { return state_->waker; }

// The common case of a busy loop, a turn that skips the kernel, stays small; the rest is in
// poll_turn.
result<void> loop_core::turn(std::optional<std::chrono::nanoseconds> max_wait) {
  state& s = *state_;
  io_count_ = 0;
  rest_pending_ = true;
  const bool work_queued = !s.soon.empty() || !s.hangups_next_turn.empty();
  if (work_queued && s.callbacks_per_poll > 1 && s.callbacks_since_poll < s.callbacks_per_poll) {
    // The queued work runs now; readiness and signals wait until the bound is reached. Timers
    // do not: but with none armed, the turn reads no clock either.
    if (!s.wheel.empty()) s.turn_tick = s.time.now_tick();
    begin_turn(s);
    return {};
  }
  return poll_turn(max_wait, work_queued);
}

result<void> loop_core::poll_turn(std::optional<std::chrono::nanoseconds> max_wait,
                                  bool work_queued) {
  state& s = *state_;
  std::optional<std::chrono::nanoseconds> wait = max_wait;
  if (work_queued) wait = std::chrono::nanoseconds::zero();
  if (auto next = s.wheel.empty() ? std::nullopt : s.wheel.next_expiration()) {
    const auto until = s.time.until(*next);
    if (!wait || until < *wait) wait = until;
  }
  auto r = s.poll.wait(s.ready, wait);
  s.callbacks_since_poll = 0;
  // With no timer armed the tick is not needed: a timer armed later in this turn gets a
  // deadline past the present (arm_timeout), which a stale tick can only make later to fire.
  if (!s.wheel.empty()) s.turn_tick = s.time.now_tick();
  begin_turn(s);
  if (!r) return r;
  io_first_ = s.ready.begin();
  io_count_ = s.ready.size();
  s.callbacks_since_poll = io_count_;
  return r;
}

void loop_core::begin_turn(state& s) noexcept {
  s.soon.begin_turn();
  s.hangups_this_turn.clear();
  std::swap(s.hangups_this_turn, s.hangups_next_turn);  // both keep their capacity
  s.hangup_cursor = 0;
}

void loop_core::unmatched_event(std::uint64_t key) noexcept {
  // The waker's only job was to end the wait; a stale registration's event is dropped.
  if (key == signals_key) state_->signals_pending = true;
}

void loop_core::hangup_seen(std::uint64_t key) noexcept {
  // The hang-up's edge may have come with the last data, which a handler may read without
  // reading on to the end of stream (a short read drained the queue): report it once more.
  fd_slot* slot = live_slot(key);
  if (!slot || slot->hangup_queued) return;
  slot->hangup_queued = true;
  state_->hangups_next_turn.push_back(key);
}

bool loop_core::next(loop_event& out) noexcept {
  state& s = *state_;
  while (s.hangup_cursor < s.hangups_this_turn.size()) {
    const std::uint64_t key = s.hangups_this_turn[s.hangup_cursor++];
    fd_slot* slot = live_slot(key);
    if (!slot) continue;  // removed or replaced since
    slot->hangup_queued = false;
    out = loop_event{loop_event::kind::io, slot->user, event::readable | event::read_closed, key,
                     {}};
    ++s.callbacks_since_poll;
    return true;
  }
  if (timer_entry* soon = s.soon.pop_due()) {
    out.what = loop_event::kind::timeout;
    out.tok = soon->user;
    s.timers.release(*soon);
    ++s.callbacks_since_poll;
    // Hang-ups were handed out before; what else could this turn still hold? (Timers and
    // zero-delay work armed by the callback about to run belong to later turns.)
    rest_pending_ = s.soon.due() || !s.wheel.empty() || s.signals_pending ||
                    s.signal_cursor < s.signal_count;
    return true;
  }
  if (timer_node* n = s.wheel.empty() ? nullptr : s.wheel.poll(s.turn_tick)) {
    auto& entry = static_cast<timer_entry&>(*n);
    out.what = loop_event::kind::timeout;
    out.tok = entry.user;
    s.timers.release(entry);
    ++s.callbacks_since_poll;
    return true;
  }
  while (true) {
    if (s.signal_cursor < s.signal_count) {
      out = loop_event{loop_event::kind::signal, token{}, 0, 0, s.signal_batch[s.signal_cursor++]};
      return true;
    }
    if (!s.signals_pending || !s.signals) return false;
    s.signal_count = s.signals->drain(s.signal_batch);
    s.signal_cursor = 0;
    // A full batch may have left records in the pipe; edge-triggering will not remind us.
    s.signals_pending = s.signal_count == s.signal_batch.size();
    if (s.signal_count == 0) return false;
  }
}

}  // namespace corio::detail
