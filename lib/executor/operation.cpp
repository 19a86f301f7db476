// The race between completion and cancellation (see include/corio/detail/executor.hpp), and
// the two kinds of operation the executor drives itself: readiness and timers.
#include <corio/detail/executor.hpp>

#include "executor/executor.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace corio::detail {

bool operation::arm(std::coroutine_handle<> awaiting, const stop_ref& stop) noexcept {
  return arm(awaiting, stop, executor::current());
}

bool operation::arm(std::coroutine_handle<> awaiting, const stop_ref& stop,
                    executor* owner) noexcept {
  awaiting_ = awaiting;
  owner_ = owner;
  state_.store(0, std::memory_order_relaxed);
  canceled_ = false;
  if (task_stop* t = stop.task()) {
    switch (t->arm(*this)) {
      case task_stop::arm_result::armed:
        stop_task_ = t;
        return true;
      case task_stop::arm_result::stopped:
        canceled_ = true;
        return false;
      case task_stop::arm_result::occupied:
        // The general path, through the task's std::stop_token.
        return arm_callback(t->token());
    }
  }
  if (!stop.token().stop_possible()) return true;
  return arm_callback(stop.token());
}

bool operation::arm_callback(const std::stop_token& token) noexcept {
  if (!token.stop_possible()) return true;
  if (token.stop_requested()) {
    canceled_ = true;
    return false;
  }
  // May run request_cancel() right here if a stop raced in; that path posts to our own
  // executor, which resumes us on a later turn, so returning true stays correct.
  ::new (static_cast<void*>(stop_callback_)) stop_callback_type(token, on_stop{this});
  has_stop_callback_ = true;
  return true;
}

namespace {
void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

std::uintptr_t task_stop::lock() noexcept {
  std::uintptr_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if (w & locked_bit) {
      spin_pause();
      w = word_.load(std::memory_order_relaxed);
    } else if (word_.compare_exchange_weak(w, w | locked_bit, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
      return w;
    }
  }
}

void task_stop::wait_unlocked() const noexcept {
  while (word_.load(std::memory_order_acquire) & locked_bit) spin_pause();
}

void task_stop::release_armed() noexcept {
  const std::uintptr_t w = word_.load(std::memory_order_acquire);
  if (auto* op = reinterpret_cast<operation*>(w & ~(requested_bit | locked_bit))) {
    if (op->stop_task_ == this) op->stop_task_ = nullptr;
  }
}

bool task_stop::request_stop() noexcept {
  std::uintptr_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if (w & requested_bit) return false;
    if (w & locked_bit) {
      spin_pause();
      w = word_.load(std::memory_order_relaxed);
    } else if (word_.compare_exchange_weak(w, w | requested_bit | locked_bit,
                                           std::memory_order_acq_rel, std::memory_order_relaxed)) {
      break;
    }
  }
  // The lock keeps the armed operation alive (its disarm waits) while we ask it to cancel;
  // request_cancel only posts to its executor, so nothing here re-enters this state.
  if (auto* op = reinterpret_cast<operation*>(w & ~(requested_bit | locked_bit))) {
    op->request_cancel();
  }
  if (source_) source_->request_stop();
  word_.store(requested_bit, std::memory_order_release);  // unlocked, nothing armed
  return true;
}

std::stop_token task_stop::token() {
  // Only the task's thread writes source_, so reading it unlocked here is safe.
  if (!source_) {
    std::stop_source made;  // allocates: before taking the lock
    const std::uintptr_t w = lock();
    source_.emplace(std::move(made));
    unlock();
    if (w & requested_bit) source_->request_stop();
  }
  return source_->get_token();
}

void operation::complete_local() noexcept {
  if (mark_done() & cancel_bit) return;
  owner_->schedule(awaiting_);
}

void operation::drop_stop_callback() noexcept {
  has_stop_callback_ = false;
  std::launder(reinterpret_cast<stop_callback_type*>(stop_callback_))->~stop_callback_type();
}

bool operation::complete_remote() noexcept {
  std::uint8_t expected = 0;
  if (!state_.compare_exchange_strong(expected, done_bit, std::memory_order_acq_rel)) return false;
  ::new (static_cast<void*>(&node_)) node{{nullptr, &run_resume}, this};
  owner_->post(node_);
  return true;
}

void operation::request_cancel() noexcept {
  if (state_.fetch_or(cancel_bit, std::memory_order_acq_rel) & done_bit) return;
  ::new (static_cast<void*>(&node_)) node{{nullptr, &run_cancel}, this};
  owner_->post(node_);
}

void operation::run_cancel(remote_node& n) noexcept {
  operation* op = static_cast<node&>(n).self;
  // Only this thread sets done_bit once cancel_bit is set, so the check cannot go stale.
  if (!(op->state_.load(std::memory_order_acquire) & done_bit)) {
    if (!op->withdraw()) return;  // the kernel still has it: it resumes from its completion
    op->canceled_ = true;
  }
  op->owner_->schedule(op->awaiting_);
}

void operation::resume_withdrawn(bool canceled) noexcept {
  canceled_ = canceled;
  owner_->schedule(awaiting_);
}

void operation::run_resume(remote_node& n) noexcept {
  operation* op = static_cast<node&>(n).self;
  op->owner_->schedule(op->awaiting_);
}

result<io_registration> io_registration::open(int fd) {
  executor* ex = executor::current();
  if (!ex) return std::make_error_code(std::errc::operation_not_permitted);
  auto slot = ex->register_fd(fd);
  if (!slot) return slot.error();
  const bool whole = ex->completion_based();
  return io_registration(ex, *slot, whole ? nullptr : &(*slot)->ready, whole);
}

io_registration::io_registration(io_registration&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), slot_(std::exchange(other.slot_, nullptr)),
      ready_(std::exchange(other.ready_, nullptr)), completions_(other.completions_) {}

io_registration& io_registration::operator=(io_registration&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    slot_ = std::exchange(other.slot_, nullptr);
    ready_ = std::exchange(other.ready_, nullptr);
    completions_ = other.completions_;
  }
  return *this;
}

io_registration::~io_registration() { reset(); }

void io_registration::hand_over() noexcept {
  if (slot_) owner_->hand_over(*slot_);
  reset();
}

std::optional<std::int32_t> io_registration::take_received(void* data, std::size_t size) noexcept {
  if (!slot_ || owner_ != executor::current()) return std::nullopt;  // submit() says why
  return owner_->take_received(*slot_, data, size);
}

void io_registration::reset() noexcept {
  if (slot_) owner_->deregister(std::exchange(slot_, nullptr));
  owner_ = nullptr;
  ready_ = nullptr;
}

bool io_operation::link(io_registration& reg, direction dir) noexcept {
  if (!reg.slot_ || reg.owner_ != executor::current()) {
    set_suspend_error(std::make_error_code(std::errc::bad_file_descriptor));
    return false;
  }
  io_operation*& waiter = dir == direction::read ? reg.slot_->reader : reg.slot_->writer;
  if (waiter) {  // one reader and one writer at a time per socket
    set_suspend_error(std::make_error_code(std::errc::device_or_resource_busy));
    return false;
  }
  error_category_ = nullptr;
  slot_ = reg.slot_;
  direction_ = dir;
  waiter = this;
  complete = &answered;
  return true;
}

bool io_operation::suspend(std::coroutine_handle<> awaiting, const stop_ref& stop,
                           io_registration& reg, direction dir) noexcept {
  if (!link(reg, dir)) return false;
  mode_ = reg.completion_based() ? mode::poll_once : mode::readiness;
  // Armed before starting: a stop already requested then leaves nothing with the kernel.
  if (!arm(awaiting, stop, reg.owner_)) {
    unlink();
    return false;
  }
  if (mode_ == mode::poll_once) {
    if (auto r = start(); !r) finish_with_error(r.error());
  }
  return true;
}

bool io_operation::submit(std::coroutine_handle<> awaiting, const stop_ref& stop,
                          io_registration& reg, direction dir, io_request& first) noexcept {
  if (!link(reg, dir)) return false;
  mode_ = mode::whole;
  // Input received ahead may answer it at once: then it finishes without suspending.
  for (bool again = false;; again = true) {
    auto r = again ? start() : start_whole(first);
    if (!r) {
      set_suspend_error(r.error());
      unlink();
      return false;
    }
    if (!*r) break;
    if (consume(**r)) {
      unlink();
      return false;
    }
  }
  // arm() fails only if a stop raced in since await_suspend looked: withdrawn at once (it
  // waited on input), it resumes now as cancelled; else once the kernel answered.
  if (!arm(awaiting, stop, reg.owner_)) return !withdraw();
  return true;
}

result<std::optional<std::int32_t>> io_operation::start() noexcept {
  if (mode_ == mode::whole) {
    io_request req;
    (void)prepare(req);
    return start_whole(req);
  }
  auto r = executor::current()->start_poll(slot_->fd, direction_ == direction::write, *this);
  if (!r) return r.error();
  pending_ = true;
  return std::optional<std::int32_t>();
}

result<std::optional<std::int32_t>> io_operation::start_whole(io_request& req) noexcept {
  req.fd = slot_->fd;
  auto r = executor::current()->start(*slot_, req, *this);
  if (r && !*r) pending_ = true;
  return r;
}

// Still suspended: the result goes through the same race with a cancel as any other.
void io_operation::finish_with_error(std::error_code ec) noexcept {
  set_suspend_error(ec);
  unlink();
  complete_local();
}

void io_operation::answered(io_callback& cb, std::int32_t result) noexcept {
  static_cast<io_operation&>(cb).on_answer(result);
}

void io_operation::on_answer(std::int32_t result) noexcept {
  pending_ = false;
  if (owner()) bump(owner()->diagnostics().counters.io_completions);
  if (abandoned_) return;  // the frame is being destroyed; its destructor only waited for this
  const bool cancelled = result == -ECANCELED || result == -EINTR;
  if (withdrawing_) {
    withdrawing_ = false;
    // A request the cancel did not catch may have moved data: that result is delivered.
    const bool delivered = mode_ == mode::whole && !cancelled && consume(result);
    unlink();
    resume_withdrawn(!delivered);
    return;
  }
  if (aborted_) {  // the socket closed; a result that beat the cancel is still delivered
    aborted_ = false;
    if (mode_ != mode::whole || cancelled || !consume(result)) {
      set_suspend_error(make_error_code(error::operation_aborted));
    }
    complete_local();
    return;
  }
  if (mode_ == mode::whole) {
    for (;;) {
      if (consume(result)) {
        unlink();
        complete_local();
        return;
      }
      auto r = start();  // more to do (a partial write): start the rest
      if (!r) return finish_with_error(r.error());
      if (!*r) return;
      result = **r;
    }
  }
  // One-shot readiness: the syscall reports whatever the poll saw (an error, a hang-up).
  if (perform()) {
    unlink();
    complete_local();
  } else if (result < 0) {
    finish_with_error({-result, std::system_category()});
  } else if (auto r = start(); !r) {
    finish_with_error(r.error());
  }
}

void io_operation::on_socket_closed() noexcept {
  if (withdrawing_) {  // a stop got here first: its answer resumes us as cancelled
    unlink();
    return;
  }
  if (pending_ && !owner()->cancel(*slot_, *this)) {
    aborted_ = true;  // the kernel has it: resume once it let go of the buffers
    unlink();
    return;
  }
  pending_ = false;
  finish_with_error(make_error_code(error::operation_aborted));
}

bool io_operation::withdraw() noexcept {
  if (!pending_) {
    unlink();
    return true;
  }
  if (aborted_) return false;  // the close's cancel is on its way; its answer resumes us
  if (owner()->cancel(*slot_, *this)) {
    pending_ = false;
    unlink();
    return true;
  }
  withdrawing_ = true;
  return false;
}

// The destructor's slow path: the frame goes away while the operation is still armed, linked or
// owed an answer by the kernel.
void io_operation::release_on_destroy() noexcept {
  disarm();
  if (pending_) {
    abandoned_ = true;
    const bool cancel_sent = withdrawing_ || aborted_;
    if (cancel_sent || !owner()->cancel(*slot_, *this)) {
      owner()->abandon(*this);
    } else {
      pending_ = false;
    }
  }
  if (slot_) unlink();
}

void io_operation::unlink() noexcept {
  if (!slot_) return;
  io_operation*& waiter = direction_ == direction::read ? slot_->reader : slot_->writer;
  if (waiter == this) waiter = nullptr;
  slot_ = nullptr;
}

bool timer_operation::suspend(std::coroutine_handle<> awaiting, const stop_ref& stop,
                              tick deadline) noexcept {
  executor* ex = executor::current();
  ex->arm(*this, deadline);
  if (!arm(awaiting, stop)) {
    unlink();
    return false;
  }
  return true;
}

void timer_operation::unlink() noexcept {
  if (linked) owner()->disarm(*this);
}

executor* current_executor() noexcept { return executor::current(); }
bool connects_whole() noexcept {
  const executor* ex = executor::current();
  return ex != nullptr && ex->completion_based();
}
void schedule(executor& ex, std::coroutine_handle<> h) { ex.schedule(h); }
void post(executor& ex, remote_node& n) noexcept { ex.post(n); }
tick now_tick(executor& ex) noexcept { return ex.now_tick(); }

std::chrono::steady_clock::time_point clock_now() noexcept {
  executor* ex = executor::current();
  return ex ? ex->now() : std::chrono::steady_clock::now();
}
tick deadline_after(executor& ex, std::chrono::nanoseconds d) noexcept {
  return ex.deadline_after(d);
}
tick deadline_at(executor& ex, std::chrono::steady_clock::time_point t) noexcept {
  return ex.deadline_at(t);
}
void track(executor& ex, spawn_link& link) noexcept { ex.track(link); }
void note_resuming(executor& ex, void* frame) noexcept { ex.diagnostics().resuming(frame); }
void untrack(executor& ex, spawn_link& link) noexcept { ex.untrack(link); }

result<executor_scope> executor_scope::create(backend_kind kind) {
  auto ex = executor::create(kind);
  if (!ex) return ex.error();
  return executor_scope(ex->release());
}

executor_scope::executor_scope(executor_scope&& other) noexcept
    : executor_(std::exchange(other.executor_, nullptr)) {}

executor_scope::~executor_scope() { delete executor_; }

result<void> executor_scope::run_until(const bool& done) { return executor_->run_until(done); }

}  // namespace corio::detail

namespace corio::detail {

namespace {
struct message {
  msghdr header;
  iovec buffer;
};
static_assert(sizeof(message) <= sizeof(msg_storage) && alignof(message) <= 8);
static_assert(sizeof(socklen_t) == sizeof(std::uint32_t));
}  // namespace

void prepare_message(msg_storage& m, void* buf, std::size_t len, void* addr,
                     std::uint32_t addr_capacity) noexcept {
  auto* msg = ::new (static_cast<void*>(m.bytes)) message{};
  msg->buffer.iov_base = buf;
  msg->buffer.iov_len = len;
  msg->header.msg_name = addr;
  msg->header.msg_namelen = addr_capacity;
  msg->header.msg_iov = &msg->buffer;
  msg->header.msg_iovlen = 1;
}

std::uint32_t message_address_length(const msg_storage& m) noexcept {
  return reinterpret_cast<const message*>(m.bytes)->header.msg_namelen;
}

}  // namespace corio::detail
