// The race between completion and cancellation (see include/corio/detail/executor.hpp), and
// the two kinds of operation the executor drives itself: readiness and timers.
#include <corio/detail/executor.hpp>

#include "executor/executor.hpp"

namespace corio::detail {

bool operation::arm(std::coroutine_handle<> awaiting, const std::stop_token& stop) noexcept {
  awaiting_ = awaiting;
  owner_ = executor::current();
  state_.store(0, std::memory_order_relaxed);
  canceled_ = false;
  if (!stop.stop_possible()) return true;
  if (stop.stop_requested()) {
    canceled_ = true;
    return false;
  }
  // May run request_cancel() right here if a stop raced in; that path posts to our own
  // executor, which resumes us on a later turn, so returning true stays correct.
  stop_callback_.emplace(stop, on_stop{this});
  return true;
}

void operation::complete_local() noexcept {
  if (state_.fetch_or(done_bit, std::memory_order_acq_rel) & cancel_bit) return;
  owner_->schedule(awaiting_);
}

bool operation::complete_remote() noexcept {
  std::uint8_t expected = 0;
  if (!state_.compare_exchange_strong(expected, done_bit, std::memory_order_acq_rel)) return false;
  node_.self = this;
  node_.run = &run_resume;
  owner_->post(node_);
  return true;
}

void operation::request_cancel() noexcept {
  if (state_.fetch_or(cancel_bit, std::memory_order_acq_rel) & done_bit) return;
  node_.self = this;
  node_.run = &run_cancel;
  owner_->post(node_);
}

void operation::run_cancel(remote_node& n) noexcept {
  operation* op = static_cast<node&>(n).self;
  // Only this thread sets done_bit once cancel_bit is set, so the check cannot go stale.
  if (!(op->state_.load(std::memory_order_acquire) & done_bit)) {
    op->unlink();
    op->canceled_ = true;
  }
  op->owner_->schedule(op->awaiting_);
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
  return io_registration(ex, *slot);
}

io_registration::io_registration(io_registration&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), slot_(std::exchange(other.slot_, nullptr)) {}

io_registration& io_registration::operator=(io_registration&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    slot_ = std::exchange(other.slot_, nullptr);
  }
  return *this;
}

io_registration::~io_registration() { reset(); }

void io_registration::reset() noexcept {
  if (slot_) owner_->deregister(std::exchange(slot_, nullptr));
  owner_ = nullptr;
}

bool io_operation::suspend(std::coroutine_handle<> awaiting, const std::stop_token& stop,
                           io_registration& reg, direction dir) noexcept {
  if (!reg.slot_ || reg.owner_ != executor::current()) {
    suspend_error_ = std::make_error_code(std::errc::bad_file_descriptor);
    return false;
  }
  io_operation*& waiter = dir == direction::read ? reg.slot_->reader : reg.slot_->writer;
  if (waiter) {  // one reader and one writer at a time per socket
    suspend_error_ = std::make_error_code(std::errc::device_or_resource_busy);
    return false;
  }
  suspend_error_.clear();
  slot_ = reg.slot_;
  direction_ = dir;
  waiter = this;
  if (!arm(awaiting, stop)) {
    unlink();
    return false;
  }
  return true;
}

void io_operation::unlink() noexcept {
  if (!slot_) return;
  io_operation*& waiter = direction_ == direction::read ? slot_->reader : slot_->writer;
  if (waiter == this) waiter = nullptr;
  slot_ = nullptr;
}

bool timer_operation::suspend(std::coroutine_handle<> awaiting, const std::stop_token& stop,
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
void schedule(executor& ex, std::coroutine_handle<> h) { ex.schedule(h); }
void post(executor& ex, remote_node& n) noexcept { ex.post(n); }
tick now_tick(executor& ex) noexcept { return ex.now_tick(); }
tick deadline_after(executor& ex, std::chrono::nanoseconds d) noexcept {
  return ex.deadline_after(d);
}
tick deadline_at(executor& ex, std::chrono::steady_clock::time_point t) noexcept {
  return ex.deadline_at(t);
}
void track(executor& ex, spawn_link& link) noexcept { ex.track(link); }
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
