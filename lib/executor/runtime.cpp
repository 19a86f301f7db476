// corio::runtime: N worker threads, each with its own executor (and so its own reactor, timer
// wheel and frame pool). Work reaches a worker only through its executor's remote queue.
//
// A worker's life, in phases; the two barriers are the only points where workers wait on each
// other, and only at shutdown:
//   1. run until the stop node (posted by stop()) arrives;
//   2. close the door (spawn_on/switch_to refused), request stop on every task it owns, and
//      keep running until none is left or shutdown_grace passed;
//   -- barrier: no worker runs tasks any more --
//   3. destroy the frames still left, one worker at a time: a frame that moved with switch_to
//      may wait on another worker's reactor or wheel, and that worker is idle and alive;
//   -- barrier: no frame is left anywhere --
//   4. destroy the executor (its remote queue holds only nodes of frames already gone).
#include <corio/runtime.hpp>

#include <algorithm>
#include <barrier>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "executor/executor.hpp"
#include "os/thread_name.hpp"

namespace corio {
namespace detail {

struct worker {
  executor* ex = nullptr;  // set on its thread before the start latch counts down
  std::mutex door_lock;    // this worker's only: orders posts against closing
  bool closed = false;
  struct stop_node : remote_node {
    worker* self = nullptr;
  } stop;
  bool stop_seen = false;  // worker thread only
  std::thread thread;
};

bool post_to_worker(worker& w, remote_node& n) noexcept {
  std::lock_guard guard(w.door_lock);
  if (w.closed || !w.ex) return false;
  w.ex->post(n);
  return true;
}

executor& executor_of(worker& w) noexcept { return *w.ex; }

void apply_options(executor& ex, const runtime_options& options) noexcept {
  ex.set_resumes_per_io_poll(options.resumes_per_io_poll);
}

namespace {

thread_local runtime* current_runtime = nullptr;
thread_local std::size_t current_worker_index = 0;

// A coroutine nobody awaits, for the shutdown watch below; it frees itself when done.
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

// One timer wait, without the time layer above us (it does not know cancellation: not needed).
class pause final : public timer_operation {
 public:
  explicit pause(std::chrono::nanoseconds d) noexcept : delay_(d) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    return suspend(h, stop_ref{}, deadline_after(*current_executor(), delay_));
  }
  void await_resume() noexcept { disarm(); }

 private:
  std::chrono::nanoseconds delay_;
};

// Phase 2's end: polls (at 1 ms, during shutdown only) because tasks leave the executor's list
// without telling anyone; bounded by the grace period.
detached watch_drain(executor& ex, std::chrono::steady_clock::time_point deadline, bool& done) {
  while (ex.has_tasks() && std::chrono::steady_clock::now() < deadline) {
    co_await pause(std::chrono::milliseconds(1));
  }
  done = true;
}

}  // namespace
}  // namespace detail

struct runtime::state {
  runtime_options options;
  std::vector<std::unique_ptr<detail::worker>> workers;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stopping{false};
  std::latch started;
  std::barrier<> quiet;
  std::mutex teardown_lock;  // phase 3, one worker at a time
  std::mutex error_lock;
  std::error_code start_error;
  std::mutex join_lock;

  state(const runtime_options& o, std::size_t n)
      : options(o), started(static_cast<std::ptrdiff_t>(n)),
        quiet(static_cast<std::ptrdiff_t>(n)) {}
};

namespace {

void run_worker(runtime& rt, runtime::state& s, detail::worker& w, std::size_t index) {
  sys::name_this_thread("corio-worker-" + std::to_string(index));
  auto made = detail::executor::create(s.options.backend);
  if (!made) {
    {
      std::lock_guard guard(s.error_lock);
      s.start_error = made.error();
    }
    s.started.count_down();
    s.quiet.arrive_and_wait();
    s.quiet.arrive_and_wait();
    return;
  }
  std::unique_ptr<detail::executor> ex = std::move(*made);
  detail::apply_options(*ex, s.options);
  {
    std::lock_guard guard(w.door_lock);
    w.ex = ex.get();
  }
  detail::current_runtime = &rt;
  detail::current_worker_index = index;
  ex->diagnostics().set_worker(&rt, index);
  s.started.count_down();

  (void)ex->run_until(w.stop_seen);  // 1. a reactor failure also ends the run
  {                                  // 2.
    std::lock_guard guard(w.door_lock);
    w.closed = true;
  }
  ex->request_stop_all();
  bool drained = false;
  detail::watch_drain(*ex, std::chrono::steady_clock::now() + s.options.shutdown_grace, drained);
  (void)ex->run_until(drained);
  s.quiet.arrive_and_wait();
  {  // 3.
    std::lock_guard guard(s.teardown_lock);
    ex->destroy_tasks();
  }
  s.quiet.arrive_and_wait();
  ex.reset();  // 4.
  detail::current_runtime = nullptr;
}

}  // namespace

runtime::runtime(const runtime_options& options) {
  std::size_t n = options.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  detail::configure_diagnostics(options.stall_threshold, options.shutdown_deadline);
  state_ = std::make_unique<state>(options, n);
  for (std::size_t i = 0; i < n; ++i) {
    auto w = std::make_unique<detail::worker>();
    w->stop.self = w.get();
    w->stop.run = [](detail::remote_node& node) noexcept {
      detail::worker& self = *static_cast<detail::worker::stop_node&>(node).self;
      self.stop_seen = true;
      // run_until checks its flag after resuming: give it something to resume so that it does
      // not park first.
      self.ex->schedule(std::noop_coroutine());
    };
    state_->workers.push_back(std::move(w));
  }
  // A thread that cannot start would leave the latch and barriers waiting forever.
  for (std::size_t i = 0; i < n; ++i) {
    state_->workers[i]->thread =
        std::thread(run_worker, std::ref(*this), std::ref(*state_), std::ref(*state_->workers[i]), i);
  }
  {
    const detail::stop_signals_blocked deferred;  // see join()
    state_->started.wait();
  }
  std::error_code failed;
  {
    std::lock_guard guard(state_->error_lock);
    failed = state_->start_error;
  }
  if (failed) {
    stop();
    join();
    throw std::system_error(failed, "corio::runtime");
  }
}

runtime::~runtime() {
  stop();
  join();
}

std::size_t runtime::size() const noexcept { return state_->workers.size(); }

worker_ref runtime::worker(std::size_t i) const { return worker_ref(&at(i), i); }

detail::worker& runtime::at(std::size_t i) const {
  if (i >= state_->workers.size()) throw std::out_of_range("corio::runtime: no such worker");
  return *state_->workers[i];
}

std::size_t runtime::next_index() noexcept {
  return state_->next.fetch_add(1, std::memory_order_relaxed) % state_->workers.size();
}

runtime* runtime::current() noexcept { return detail::current_runtime; }

std::size_t runtime::current_index() noexcept {
  return detail::current_runtime ? detail::current_worker_index : static_cast<std::size_t>(-1);
}

void runtime::stop() noexcept {
  if (state_->stopping.exchange(true, std::memory_order_acq_rel)) return;
  for (auto& w : state_->workers) {
    std::lock_guard guard(w->door_lock);
    if (w->ex) w->ex->post(w->stop);  // not gated by `closed`: it is what closes the door
  }
}

void runtime::join() {
  if (detail::current_runtime == this) throw std::logic_error("corio::runtime::join on a worker");
  // A thread waiting in a futex may not take SIGTERM: under ThreadSanitizer its handler would
  // run only after the wait, i.e. never. Blocked here, the kernel picks a worker.
  const detail::stop_signals_blocked deferred;
  std::lock_guard guard(state_->join_lock);
  for (auto& w : state_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::string runtime::dump() const { return detail::dump_of(this); }

std::vector<worker_metrics> runtime::metrics() const { return detail::metrics_of(this); }

}  // namespace corio
