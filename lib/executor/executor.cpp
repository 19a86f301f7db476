// The executor's run loop and its queues. The loop, in order, every turn:
//   1. resume what is ready (only what was ready when the turn began: fairness with I/O),
//   2. take the work other threads posted,
//   3. park in the reactor until the next timer, or not at all when work is waiting (and while
//      work keeps coming, ask the reactor only every resumes_per_io_poll resumes),
//   4. fire expired timers, then hand readiness to the operations waiting on it (a completion
//      engine answers its operations inside the wait, each through its own callback). An
//      operation that readiness completes resumes its coroutine right there, not through the
//      ready queue: the loop's own stack is below it, and the next turn would only pop it.
#include "executor/executor.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace corio::detail {

constinit thread_local executor* this_thread_executor [[gnu::tls_model("initial-exec")]] = nullptr;

namespace {

// The waker's token; io slot tokens are (generation << 32 | index) with generation >= 1.
constexpr std::uint64_t waker_key = 0;
constexpr std::uint32_t no_slot = 0xFFFF'FFFFu;

constexpr std::uint8_t read_side = event::readable | event::read_closed | event::error;
constexpr std::uint8_t write_side = event::writable | event::write_closed | event::error;

// An event's flags as the slot's readiness bits (an error ends both directions), as a table:
// the compiler turns the four tests into branches, and dispatch runs once per event.
constexpr std::uint8_t readiness_bits(unsigned f) noexcept {
  std::uint8_t bits = 0;
  if (f & read_side) bits |= io_readiness::readable;
  if (f & write_side) bits |= io_readiness::writable;
  if (f & (event::read_closed | event::error)) bits |= io_readiness::read_closed;
  if (f & (event::write_closed | event::error)) bits |= io_readiness::write_closed;
  return bits;
}
constexpr unsigned event_flag_values = 64;  // readable .. priority: six bits
constexpr auto readiness_table = [] {
  std::array<std::uint8_t, event_flag_values> t{};
  for (unsigned f = 0; f < event_flag_values; ++f) t[f] = readiness_bits(f);
  return t;
}();
constexpr std::uint8_t readiness_of(std::uint8_t f) noexcept {
  return readiness_table[f & (event_flag_values - 1)];
}

}  // namespace

void ready_queue::grow() {
  std::vector<std::coroutine_handle<>> bigger(ring_.size() * 2);
  for (std::size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
  ring_ = std::move(bigger);
  head_ = 0;
}

executor::executor(std::unique_ptr<detail::backend> b, std::unique_ptr<completion_engine> e,
                   std::shared_ptr<wake_handle> w, const clock& time)
    : readiness_(std::move(b)), engine_(std::move(e)), waker_(std::move(w)), time_(time),
      wheel_(time_.now_tick()), free_slot_(no_slot), previous_(this_thread_executor) {
  spawned_.next = spawned_.prev = &spawned_;
  this_thread_executor = this;
}

namespace {
// io_uring runs through the completion engine; every other kind is a readiness backend.
result<std::unique_ptr<executor>> create_one(backend_kind kind) {
  if (kind == backend_kind::io_uring) {
    auto e = make_io_uring_engine();
    if (!e) return e.error();
    return executor::create(std::move(*e), steady_clock_source());
  }
  auto b = make_backend(kind);
  if (!b) return b.error();
  return executor::create(std::move(*b), steady_clock_source());
}
}  // namespace

result<std::unique_ptr<executor>> executor::create(backend_kind kind) {
  if (kind != backend_kind::automatic) return create_one(kind);
  // The first built kind the kernel accepts (make_backend.cpp's order); else the first's error.
  std::error_code first_error;
  for (backend_kind k : built_backends()) {
    auto ex = create_one(k);
    if (ex) return ex;
    if (!first_error) first_error = ex.error();
  }
  return first_error ? first_error : make_error_code(error::backend_unavailable);
}

result<std::unique_ptr<executor>> executor::create(std::unique_ptr<detail::backend> b,
                                                   const clock& time) {
  auto w = b->make_waker(token{waker_key});
  if (!w) return w.error();
  return std::unique_ptr<executor>(new executor(std::move(b), nullptr, std::move(*w), time));
}

result<std::unique_ptr<executor>> executor::create(std::unique_ptr<completion_engine> e,
                                                   const clock& time) {
  auto w = e->make_waker();
  if (!w) return w.error();
  return std::unique_ptr<executor>(new executor(nullptr, std::move(e), std::move(*w), time));
}

executor::~executor() {
  // Work posted for tasks about to be destroyed must not run after them.
  {
    std::lock_guard guard(remote_lock_);
    remote_head_ = remote_tail_ = nullptr;
  }
  destroy_tasks();
  this_thread_executor = previous_;
}

void executor::destroy_tasks() noexcept {
  // Destroying a spawned frame destroys the tasks it awaits; their operations unlink
  // themselves from the slots and the wheel on the way.
  while (spawned_.next != &spawned_) {
    spawn_link* link = spawned_.next;
    untrack(*link);
    link->frame.destroy();
  }
}

void executor::request_stop_all() noexcept {
  // A stop callback only posts (operation::request_cancel), so the list cannot change under us.
  for (spawn_link* l = spawned_.next; l != &spawned_; l = l->next) {
    if (l->stop) l->stop->request_stop();
  }
}

void executor::post(remote_node& n) noexcept {
  n.next = nullptr;
  {
    std::lock_guard guard(remote_lock_);
    (remote_tail_ ? remote_tail_->next : remote_head_) = &n;
    remote_tail_ = &n;
  }
  remote_pending_.store(true, std::memory_order_seq_cst);
  // Pairs with park(): either it sees remote_pending_ and does not block, or we see parked_.
  if (parked_.load(std::memory_order_seq_cst)) (void)waker_->wake();
}

void executor::drain_remote() noexcept {
  // A plain load first: the exchange is a locked instruction, and this runs every turn. A post
  // this load misses is seen by the next turn, or by park() before it blocks.
  if (!remote_pending_.load(std::memory_order_relaxed)) return;
  if (!remote_pending_.exchange(false, std::memory_order_seq_cst)) return;
  remote_node* n = nullptr;
  {
    std::lock_guard guard(remote_lock_);
    n = std::exchange(remote_head_, nullptr);
    remote_tail_ = nullptr;
  }
  while (n) {
    remote_node* next = n->next;  // run() may reuse n
    bump(diag_.counters.remote_runs);
    n->run(*n);
    n = next;
  }
}

result<io_slot*> executor::register_fd(int fd) {
  if (free_slot_ == no_slot) {
    slot_chunks_.push_back(std::make_unique<io_slot[]>(slot_chunk));
    for (std::uint32_t i = slot_chunk; i-- > 0;) {
      slot_chunks_.back()[i].index = slot_capacity_ + i;
      slot_chunks_.back()[i].next_free = free_slot_;
      free_slot_ = slot_capacity_ + i;
    }
    slot_capacity_ += slot_chunk;
  }
  const std::uint32_t index = free_slot_;
  io_slot* slot = slot_at(index);
  const std::uint64_t key = (std::uint64_t{slot->generation} << 32) | index;
  if (engine_) {
    engine_->open(slot->input, fd);
  } else if (auto r = readiness_->add(fd, token{key}, interest::readable | interest::writable);
             !r) {
    return r.error();
  }
  free_slot_ = slot->next_free;
  slot->fd = fd;
  slot->ready = io_readiness{};  // unknown: the first operation tries its syscall
  return slot;
}

void executor::deregister(io_slot* slot) noexcept {
  // Whoever still waits on the socket ends now (operation_aborted), not never.
  if (slot->reader) slot->reader->on_socket_closed();
  if (slot->writer) slot->writer->on_socket_closed();
  if (engine_) {
    engine_->close(slot->input);
  } else {
    (void)readiness_->remove(slot->fd);  // fails only for an fd closed behind our back
  }
  slot->fd = -1;
  slot->reader = slot->writer = nullptr;
  // A new generation makes events still queued for the old registration miss.
  slot->generation = slot->generation == 0xFFFF'FFFFu ? 1 : slot->generation + 1;
  slot->next_free = free_slot_;
  free_slot_ = slot->index;
}

void executor::arm(timer_operation& op, tick deadline) noexcept {
  // An empty wheel is not polled (fire_timers), so its time may lag: bring it to now first, so
  // that the node is placed as precisely as if it had been polled every turn.
  if (wheel_.size() == 0) (void)wheel_.poll(time_.now_tick());
  wheel_.insert(op, deadline);
}
void executor::disarm(timer_operation& op) noexcept { wheel_.remove(op); }

void executor::track(spawn_link& link) noexcept {
  diag_.lock_tasks();
  link.next = &spawned_;
  link.prev = spawned_.prev;
  spawned_.prev->next = &link;
  spawned_.prev = &link;
  bump(diag_.counters.spawned);
  diag_.unlock_tasks();
}

void executor::untrack(spawn_link& link) noexcept {
  if (!link.next) return;
  diag_.lock_tasks();
  link.prev->next = link.next;
  link.next->prev = link.prev;
  link.next = link.prev = nullptr;
  bump(diag_.counters.finished);
  diag_.unlock_tasks();
}

result<void> executor::run_until(const bool& done) {
  diag_.run_started();
  while (!done) {
    const std::size_t queued = ready_.size();
    diag_.turn(queued);
    std::size_t n = queued;
    for (; n > 0 && !done; --n) {
      const auto h = ready_.pop();
      diag_.resuming(h.address());
      h.resume();
    }
    diag_.resumed(queued - n);  // and the previous turn's resumed from dispatch
    if (done) break;
    drain_remote();
    // Work is queued: the reactor is asked only every resumes_per_io_poll resumes (tokio's
    // event_interval), since a zero-timeout wait costs a system call per turn and usually
    // finds nothing. Bounded, so a task that yields in a loop delays I/O and timers by at most
    // that many resumes.
    resumed_since_poll_ += queued - n;
    if (!ready_.empty() && resumed_since_poll_ < resumes_per_io_poll_) continue;
    resumed_since_poll_ = 0;
    if (auto r = park(!ready_.empty()); !r) {
      diag_.run_ended();
      return r;
    }
    fire_timers();
    // Operations that readiness completes resume their coroutines right here (resume_now).
    done_ = &done;
    dispatching_ = true;
    for (const event& e : events_) dispatch(e);
    dispatching_ = false;
  }
  diag_.run_ended();
  return {};
}

void executor::abandon(const io_operation& op) noexcept {
  // The kernel would otherwise write into freed memory: stopping is the only safe choice left.
  if (!engine_->wait_until([](const void* p) { return !static_cast<const io_operation*>(p)->pending(); },
                           &op)) {
    std::fputs("corio: the kernel did not release an abandoned operation\n", stderr);
    std::abort();
  }
}

result<void> executor::park(bool has_work) {
  std::optional<std::chrono::nanoseconds> timeout;
  if (wheel_.size() != 0) {
    if (auto next = wheel_.next_expiration()) timeout = time_.until(*next);
  }
  parked_.store(true, std::memory_order_seq_cst);
  if (has_work || remote_pending_.load(std::memory_order_seq_cst)) {
    timeout = std::chrono::nanoseconds::zero();
  }
  diag_.parking(!timeout || timeout->count() > 0);
  result<void> r;
  if (engine_) {
    events_.clear();
    r = engine_->wait(timeout);
  } else {
    r = readiness_->wait(events_, timeout);
  }
  diag_.unparked(wheel_.size(), events_.size());
  parked_.store(false, std::memory_order_relaxed);
  return r;
}

void executor::fire_timers() noexcept {
  // No timer armed (a busy server often has none): no clock read, no walk over the levels.
  if (wheel_.size() == 0) return;
  const tick now = time_.now_tick();
  while (timer_node* n = wheel_.poll(now)) {
    bump(diag_.counters.timers_fired);
    static_cast<timer_operation*>(n)->fire();
  }
}

// Defined here, beside their one caller (dispatch), so that they inline into it: a readiness
// event that completes an operation is the hot path of every socket wait.
[[gnu::always_inline]] inline void operation::complete_inline() noexcept {
  if (mark_done() & cancel_bit) return;
  owner_->resume_now(awaiting_);
}

void io_operation::on_ready(io_operation*& waiting_here) noexcept {
  if (!perform()) return;
  waiting_here = nullptr;  // what unlink() would do, knowing the direction already
  slot_ = nullptr;
  complete_inline();
}

[[gnu::always_inline]] inline void executor::dispatch(const event& e) noexcept {
  const auto key = static_cast<std::uint64_t>(e.token());
  if (key == waker_key) return;  // it only ended the wait; drain_remote() takes the work
  io_slot* slot = slot_at(static_cast<std::uint32_t>(key));
  if (!slot || slot->generation != static_cast<std::uint32_t>(key >> 32)) return;
  const std::uint8_t f = e.flags();
  slot->ready.bits |= readiness_of(f);
  if (f & read_side) {
    if (slot->reader) {
      const std::uint32_t generation = slot->generation;
      // May resume a coroutine, which may close (and reuse) the slot.
      slot->reader->on_ready(slot->reader);
      if (slot->generation != generation) return;
    }
  }
  if ((f & write_side) && slot->writer) slot->writer->on_ready(slot->writer);
}

}  // namespace corio::detail
