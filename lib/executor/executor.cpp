// The executor's run loop and its queues. The loop, in order, every turn:
//   1. resume what is ready (only what was ready when the turn began: fairness with I/O),
//   2. take the work other threads posted,
//   3. park in the reactor until the next timer, or not at all when work is waiting,
//   4. fire expired timers, then hand readiness to the operations waiting on it.
#include "executor/executor.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace corio::detail {
namespace {

thread_local executor* current_ = nullptr;

// The waker's token; io slot tokens are (generation << 32 | index) with generation >= 1.
constexpr std::uint64_t waker_key = 0;
constexpr std::uint32_t slot_chunk = 256;
constexpr std::uint32_t no_slot = 0xFFFF'FFFFu;

constexpr std::uint8_t read_side = event::readable | event::read_closed | event::error;
constexpr std::uint8_t write_side = event::writable | event::write_closed | event::error;

}  // namespace

void ready_queue::push(std::coroutine_handle<> h) {
  if (size_ == ring_.size()) {
    std::vector<std::coroutine_handle<>> bigger(ring_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_ = std::move(bigger);
    head_ = 0;
  }
  ring_[(head_ + size_) % ring_.size()] = h;
  ++size_;
}

std::coroutine_handle<> ready_queue::pop() noexcept {
  auto h = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --size_;
  return h;
}

executor::executor(std::unique_ptr<detail::backend> b, std::shared_ptr<wake_handle> w,
                   const clock& time)
    : backend_(std::move(b)), waker_(std::move(w)), completions_(backend_->supports_completions()),
      buffers_(*backend_), time_(time),
      wheel_(time_.now_tick()), free_slot_(no_slot), previous_(current_) {
  spawned_.next = spawned_.prev = &spawned_;
  current_ = this;
}

result<std::unique_ptr<executor>> executor::create(backend_kind kind) {
  auto b = make_backend(kind, backend_threads::owner_only);
  if (!b) return b.error();
  return create(std::move(*b), steady_clock_source());
}

result<std::unique_ptr<executor>> executor::create(std::unique_ptr<detail::backend> b,
                                                   const clock& time) {
  auto w = b->make_waker(token{waker_key});
  if (!w) return w.error();
  return std::unique_ptr<executor>(new executor(std::move(b), std::move(*w), time));
}

executor::~executor() {
  // Work posted for tasks about to be destroyed must not run after them.
  {
    std::lock_guard guard(remote_lock_);
    remote_head_ = remote_tail_ = nullptr;
  }
  destroy_tasks();
  current_ = previous_;
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

executor* executor::current() noexcept { return current_; }

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

io_slot* executor::slot_at(std::uint32_t index) noexcept {
  return index < slot_capacity_ ? &slot_chunks_[index / slot_chunk][index % slot_chunk] : nullptr;
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
  // A completion backend submits operations whole and polls once when one must wait for
  // readiness: nothing to register (and no readiness completions to reap per fd).
  if (!completions_) {
    auto r = backend_->add(fd, token{key}, interest::readable | interest::writable);
    if (!r) return r.error();
  }
  free_slot_ = slot->next_free;
  slot->fd = fd;
  return slot;
}

void executor::deregister(io_slot* slot) noexcept {
  if (!completions_) (void)backend_->remove(slot->fd);
  stop_input(*slot);
  slot->fd = -1;
  slot->reader = slot->writer = nullptr;
  // A new generation makes events still queued for the old registration miss.
  slot->generation = slot->generation == 0xFFFF'FFFFu ? 1 : slot->generation + 1;
  slot->next_free = free_slot_;
  free_slot_ = slot->index;
}

void executor::arm(timer_operation& op, tick deadline) noexcept { wheel_.insert(op, deadline); }
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
    diag_.turn(ready_.size());
    for (std::size_t n = ready_.size(); n > 0 && !done; --n) {
      const auto h = ready_.pop();
      diag_.resuming(h.address());
      h.resume();
    }
    if (done) break;
    drain_remote();
    if (auto r = park(!ready_.empty()); !r) {
      diag_.run_ended();
      return r;
    }
    fire_timers();
    for (const event& e : events_) dispatch(e);
    handle_completions(done_);
  }
  diag_.run_ended();
  return {};
}

namespace {
// A completion's user_data: an io_operation's address (bit 0 clear), or a slot's multishot
// request, (generation << 32 | index) << 2 | tag, so a late completion for a slot that was
// reused since is recognised (24 bits of generation are plenty for that).
std::uint64_t key_of(const io_operation* op) noexcept {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(op));
}
constexpr std::uint64_t receive_tag = 1;
constexpr std::uint64_t accept_tag = 3;
constexpr std::uint32_t generation_bits = 0xFF'FFFFu;
std::uint64_t input_key(const io_slot& slot, queued_input input) noexcept {
  const std::uint64_t tag = input == queued_input::bytes ? receive_tag : accept_tag;
  return ((std::uint64_t{slot.generation & generation_bits} << 32 | slot.index) << 2) | tag;
}
}  // namespace

void executor::handle_completions(const completions& done) noexcept {
  for (const completion& c : done) {
    bump(diag_.counters.io_completions);
    if ((c.user_data & receive_tag) == 0) {
      reinterpret_cast<io_operation*>(static_cast<std::uintptr_t>(c.user_data))
          ->on_completion(c.result);
      continue;
    }
    const std::uint64_t key = c.user_data >> 2;
    io_slot* slot = slot_at(static_cast<std::uint32_t>(key));
    const bool live = slot && slot->fd >= 0 && (slot->generation & generation_bits) == key >> 32;
    if ((c.user_data & 3) == accept_tag) {
      if (live) {
        on_accept(*slot, c);
      } else if (c.result >= 0) {
        ::close(c.result);  // accepted for a listener that closed since
      }
    } else if (live) {
      on_receive(*slot, c);
    } else if (c.buffer != completion::no_buffer) {
      buffers_.release(c.buffer);  // received for a socket that closed since
    }
  }
}

bool executor::want_input(io_slot& slot, queued_input input) noexcept {
  if (input == queued_input::connections) {
    if (slot.accepted.armed) return true;
    if (!multishot_accept_) return false;
  } else {
    if (slot.received.armed) return true;
    if (slot.received.dry || !buffers_.available()) return false;
  }
  return arm_input(slot, input);
}

bool executor::arm_input(io_slot& slot, queued_input input) noexcept {
  completion_request r;
  r.op = input == queued_input::bytes ? completion_request::kind::recv_multishot
                                      : completion_request::kind::accept_multishot;
  r.fd = slot.fd;
  r.flags = input == queued_input::bytes ? 0 : SOCK_NONBLOCK | SOCK_CLOEXEC;
  r.user_data = input_key(slot, input);
  if (!backend_->submit(r)) return false;
  (input == queued_input::bytes ? slot.received.armed : slot.accepted.armed) = true;
  return true;
}

void executor::cancel_input(io_slot& slot, queued_input input) noexcept {
  bool& cancelling =
      input == queued_input::bytes ? slot.received.cancelling : slot.accepted.cancelling;
  if (cancelling) return;
  completion_request r;
  r.op = completion_request::kind::cancel;
  r.user_data = input_key(slot, input);
  if (backend_->submit(r)) cancelling = true;
}

std::size_t executor::copy_received(io_slot& slot, std::span<std::byte> dst) noexcept {
  return buffers_.copy_to(slot.received, dst);
}

std::optional<std::int32_t> executor::take_receive_end(io_slot& slot) noexcept {
  receive_queue& q = slot.received;
  if (q.queued > 0 || q.end == receive_queue::open) return std::nullopt;
  return std::exchange(q.end, receive_queue::open);
}

void executor::on_receive(io_slot& slot, const completion& c) noexcept {
  receive_queue& q = slot.received;
  if (c.buffer != completion::no_buffer) {
    if (c.result > 0) {
      buffers_.append(q, c.buffer, static_cast<std::size_t>(c.result));
    } else {
      buffers_.release(c.buffer);
    }
  }
  if (!c.more) {  // this receive ended; why decides what the next read does
    q.armed = false;
    q.cancelling = false;
    if (c.result == 0) {
      q.end = 0;
    } else if (c.result == -ENOBUFS) {
      q.dry = true;
    } else if (c.result == -EINVAL && q.queued == 0) {
      buffers_.disable();  // a kernel without multishot receive (before 6.0)
    } else if (c.result < 0 && c.result != -ECANCELED) {
      q.end = c.result;
    }
  } else if (q.queued >= received_buffers::socket_cap) {
    cancel_input(slot, queued_input::bytes);  // a reader that lags: the rest waits in the socket
  }
  if (slot.reader) slot.reader->on_received();
}

void executor::on_accept(io_slot& slot, const completion& c) noexcept {
  accept_queue& q = slot.accepted;
  if (c.result >= 0) {
    try {
      q.push(c.result);
    } catch (...) {  // no memory for the queue: the connection is refused rather than leaked
      ::close(c.result);
    }
  } else if (c.result == -EINVAL && q.size() == 0 && !c.more) {
    multishot_accept_ = false;  // a kernel without multishot accept (before 5.19)
  } else if (c.result != -ECANCELED && q.error == 0) {
    q.error = c.result;
  }
  if (!c.more) {
    q.armed = false;
    q.cancelling = false;
  } else if (q.size() >= accept_queue::cap) {
    cancel_input(slot, queued_input::connections);  // the rest waits in the backlog
  }
  if (slot.reader) slot.reader->on_received();
}

void executor::stop_input(io_slot& slot) noexcept {
  if (slot.received.armed) cancel_input(slot, queued_input::bytes);
  if (slot.accepted.armed) cancel_input(slot, queued_input::connections);
  buffers_.release_all(slot.received);
  slot.accepted.close_all();
}

result<void> executor::submit(const io_request& req, io_operation* op) noexcept {
  completion_request r;
  r.fd = req.fd;
  r.data = req.data;
  r.size = req.size;
  r.user_data = key_of(op);
  switch (req.op) {
    case io_request::kind::recv: r.op = completion_request::kind::recv; break;
    case io_request::kind::recvmsg: r.op = completion_request::kind::recvmsg; break;
    case io_request::kind::send:
      r.op = completion_request::kind::send;
      r.flags = MSG_NOSIGNAL;  // a peer that went away is EPIPE, never SIGPIPE
      break;
    case io_request::kind::sendmsg:
      r.op = completion_request::kind::sendmsg;
      r.flags = MSG_NOSIGNAL;
      break;
    case io_request::kind::connect: r.op = completion_request::kind::connect; break;
    case io_request::kind::accept:
      r.op = completion_request::kind::accept;
      r.addr_len = reinterpret_cast<socklen_t*>(req.addr_len);
      r.flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
      break;
  }
  return backend_->submit(r);
}

result<void> executor::submit_poll(int fd, bool writable, io_operation* op) noexcept {
  completion_request r;
  r.op = completion_request::kind::poll;
  r.fd = fd;
  r.flags = writable ? 1 : 0;
  r.user_data = key_of(op);
  return backend_->submit(r);
}

void executor::cancel(io_operation* op) noexcept {
  completion_request r;
  r.op = completion_request::kind::cancel;
  r.user_data = key_of(op);
  (void)backend_->submit(r);
}

void executor::abandon(io_operation* op, bool cancel_requested) noexcept {
  if (!cancel_requested) cancel(op);
  // The kernel would otherwise write into freed memory: stopping is the only safe choice left.
  if (!reap_until([op] { return !op->in_flight(); })) {
    std::fputs("corio: the kernel did not release an abandoned operation\n", stderr);
    std::abort();
  }
}

void executor::hand_over(io_slot& slot) noexcept {
  if (!slot.received.armed) return;
  cancel_input(slot, queued_input::bytes);
  // Bounded; if the kernel never answers, the cancel still reaches it with the next wait.
  (void)reap_until([&slot] { return !slot.received.armed; });
}

template <class Done>
bool executor::reap_until(Done done_now) noexcept {
  // Own buffers: the run loop's may be in the middle of being dispatched further up.
  events evs(64);
  completions done(64);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done_now()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    if (!backend_->wait(evs, &done, std::chrono::milliseconds(10))) continue;
    for (const event& e : evs) dispatch(e);
    handle_completions(done);
  }
  return true;
}

result<void> executor::park(bool has_work) {
  std::optional<std::chrono::nanoseconds> timeout;
  if (auto next = wheel_.next_expiration()) timeout = time_.until(*next);
  parked_.store(true, std::memory_order_seq_cst);
  if (has_work || remote_pending_.load(std::memory_order_seq_cst)) {
    timeout = std::chrono::nanoseconds::zero();
  }
  diag_.parking(!timeout || timeout->count() > 0);
  auto r = backend_->wait(events_, completions_ ? &done_ : nullptr, timeout);
  diag_.unparked(wheel_.size());
  parked_.store(false, std::memory_order_relaxed);
  return r;
}

void executor::fire_timers() noexcept {
  const tick now = time_.now_tick();
  while (timer_node* n = wheel_.poll(now)) {
    bump(diag_.counters.timers_fired);
    static_cast<timer_operation*>(n)->fire();
  }
}

void executor::dispatch(const event& e) noexcept {
  const auto key = static_cast<std::uint64_t>(e.token());
  if (key == waker_key) return;  // it only ended the wait; drain_remote() takes the work
  bump(diag_.counters.io_events);
  io_slot* slot = slot_at(static_cast<std::uint32_t>(key));
  if (!slot || slot->generation != static_cast<std::uint32_t>(key >> 32)) return;
  if ((e.flags() & read_side) && slot->reader) slot->reader->on_ready();
  if ((e.flags() & write_side) && slot->writer) slot->writer->on_ready();
}

}  // namespace corio::detail
