// Running tasks: block_on from main, spawn onto the current thread's executor, join_handle.
//
//   int main() {
//     return corio::block_on(serve());            // runs until serve() finishes
//   }
//   corio::task<> serve() {
//     auto h = corio::spawn(handle_client(...));  // runs concurrently on this thread
//     co_await h;                                 // or h.detach()
//   }
//
// Contracts:
// - One executor per thread. spawn() outside a corio thread throws std::logic_error (the
//   multi-threaded runtime's spawn_on covers other threads).
// - Cancellation is cooperative and reaches operations, not code: request_stop() on a handle
//   makes every pending and future co_await of that task (and the tasks it awaits) finish with
//   operation_canceled; the task decides how to unwind.
// - Dropping a join_handle detaches the task; it keeps running. When block_on returns, the
//   tasks still running on its executor are destroyed, their pending operations withdrawn.
// - Awaiting a join_handle is cancellable like any operation: when the awaiting task is stopped
//   (or a timeout/when_any around the await gives up), the await throws std::system_error
//   (operation_canceled) at once and the joined task keeps running, as if detached for the
//   moment (tokio's JoinHandle: dropping the await does not abort the task). The handle keeps
//   the result: await it again later, or request_stop() it. A stopped task that must still wait
//   for its children (stop them, then join) awaits h.shielded(), which no stop request reaches.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <corio/detail/executor.hpp>
#include <corio/detail/frame_pool.hpp>
#include <corio/diagnostics.hpp>
#include <corio/error.hpp>
#include <corio/reactor.hpp>
#include <corio/task.hpp>

namespace corio {

struct runtime_options {
  backend_kind backend = backend_kind::automatic;
  // corio::runtime only (block_on runs on the calling thread):
  unsigned threads = 0;  // worker threads; 0 = std::thread::hardware_concurrency()
  // How long stop() lets cancelled tasks unwind before their frames are destroyed.
  std::chrono::milliseconds shutdown_grace{1000};
  // Diagnostics (corio/diagnostics.hpp), process-wide, 0 = off. A worker that has not come back
  // to its reactor for stall_threshold is reported on stderr (CORIO_STALL_MS overrides). Once
  // SIGTERM/SIGINT reached a corio signal_set, a process still running shutdown_deadline later
  // is ended with status 3 (CORIO_SHUTDOWN_DEADLINE_MS overrides).
  std::chrono::milliseconds stall_threshold{500};
  std::chrono::milliseconds shutdown_deadline{1500};
  // While tasks are ready, a turn resumes them without asking the kernel for readiness, until
  // this many resumes have run since it was last asked (tokio's event_interval, also 61): a task
  // that yields in a loop costs no epoll_wait/io_uring_enter per yield, yet delays I/O and
  // timers by at most this many resumes. 1 asks the kernel in every turn: the lowest I/O latency
  // when tasks are always ready, at a system call per turn. Larger: fewer system calls under
  // yield-heavy load, later I/O. 0 is taken as 1 (like loop_options::callbacks_per_io_poll).
  // With no task ready the executor always waits in the kernel, whatever this says.
  std::uint32_t resumes_per_io_poll = 61;
};

namespace detail {

// Hands the options that concern one executor (resumes_per_io_poll) to `ex`: block_on's and
// every runtime worker's.
void apply_options(executor& ex, const runtime_options& options) noexcept;

// A worker thread of a corio::runtime (lib/executor/runtime.cpp).
struct worker;
// Posts `n` to the worker's executor; false once the worker is shutting down (not posted).
bool post_to_worker(worker& w, remote_node& n) noexcept;
executor& executor_of(worker& w) noexcept;

// What a spawned task leaves for its handle. Shared by the task's frame and the handle (two
// references), so either may go first. It lives at the end of the block that holds the spawned
// frame (spawned::promise_type::operator new): one frame-pool allocation for both, which the
// last reference frees whole. So a finished task's frame memory stays until its handle goes.
template <class T>
class join_state {
 public:
  join_state(void* block, std::size_t block_size) noexcept
      : block_(block), block_size_(block_size) {}
  join_state(const join_state&) = delete;
  join_state& operator=(const join_state&) = delete;

  template <class... U>
  void set_value(U&&... v) {
    outcome_.set_value(std::forward<U>(v)...);
  }
  void set_exception(std::exception_ptr e) noexcept { outcome_.set_exception(std::move(e)); }

  // The task's side is over (it finished, or its executor destroyed it): wake a joiner. The
  // task's reference is let go later, by its frame's operator delete (the block is shared).
  void finish() noexcept {
    finished_here_ = true;
    if (finish_here(nullptr, current_executor())) return;
    finish_locked();
  }

  // finish() from the task's final suspend on its own thread: a joiner of this thread is not
  // scheduled but handed back, for the caller to resume by symmetric transfer once the task's
  // frame is gone (no trip through the ready queue). std::noop_coroutine() when there is none
  // here to resume (no joiner, one on another thread, or a cancel got to it first). `here` is
  // the calling thread's executor.
  std::coroutine_handle<> finish_to_joiner(executor* here) noexcept {
    finished_here_ = true;
    std::coroutine_handle<> next = std::noop_coroutine();
    if (!finish_here(&next, here)) finish_locked();
    return next;
  }

  bool is_finished() const noexcept {
    return status_.load(std::memory_order_acquire) == finished;
  }
  const bool& finished_flag() const noexcept { return finished_here_; }

  enum class wait_outcome : std::uint8_t { waiting, finished, busy };
  // Links an armed joiner. finished: the task ended meanwhile (do not suspend); busy: someone
  // else is already waiting on this handle.
  wait_outcome wait(operation& joiner) noexcept {
    std::uintptr_t seen = running;
    if (status_.compare_exchange_strong(seen, reinterpret_cast<std::uintptr_t>(&joiner),
                                        std::memory_order_acq_rel)) {
      return wait_outcome::waiting;
    }
    return seen == finished ? wait_outcome::finished : wait_outcome::busy;
  }

  // A thread that is not a corio thread waits here (join_handle::join).
  void wait_blocking() noexcept {
    std::uintptr_t seen = running;
    if (!status_.compare_exchange_strong(seen, blocked, std::memory_order_acq_rel)) return;
    const stop_signals_blocked deferred;  // signals go to the workers, which handle them
    // An int of its own: waits on it are plain futex waits.
    while (woken_.load(std::memory_order_acquire) == 0) woken_.wait(0, std::memory_order_acquire);
  }
  // A joiner that stops waiting (cancelled, or its frame torn down at shutdown) withdraws, so
  // the task finishing later does not wake it, or freed memory. After it returns, finish()
  // has either woken the joiner already or will never see it.
  void withdraw(operation& joiner) noexcept {
    std::lock_guard guard(joiner_lock_);
    auto expected = reinterpret_cast<std::uintptr_t>(&joiner);
    (void)status_.compare_exchange_strong(expected, running, std::memory_order_acq_rel);
  }

  T take() {
    if (outcome_.empty()) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "task destroyed before it finished");
    }
    return outcome_.take();
  }

  task_stop& stop() noexcept { return stop_; }

  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      void* const block = block_;
      const std::size_t size = block_size_;
      this->~join_state();
      frame_deallocate(block, size);
    }
  }

 private:
  ~join_state() = default;  // only through release()

  void finish_locked() noexcept {
    std::uintptr_t prev;
    {
      // The joiner is woken under the lock: its cancel path withdraws under the same lock, so
      // once withdraw() returned nothing here touches the joiner, whose frame may then go.
      std::lock_guard guard(joiner_lock_);
      prev = status_.exchange(finished, std::memory_order_acq_rel);
      if (prev > blocked) {
        auto* joiner = reinterpret_cast<operation*>(prev);
        if (joiner->owner() == current_executor()) {
          joiner->complete_local();  // a cancel that raced it sees `done`: this result stands
        } else {
          // False when its cancel won: the joiner resumes cancelled and the outcome stays here
          // for the next await.
          (void)joiner->complete_remote();
        }
      }
    }
    if (prev == blocked) {
      woken_.store(1, std::memory_order_release);
      woken_.notify_all();  // the frame's reference keeps the state alive for this
    }
  }

  // finish() without the lock, when nobody can withdraw meanwhile: no joiner yet (a joiner
  // that links after the exchange below finds `finished`), or a joiner of this very thread
  // (its withdraw runs only on its own thread, which is here). False: the locked path. With
  // `transfer`, a joiner completed here is handed back through it instead of scheduled. `here`:
  // the calling thread's executor.
  bool finish_here(std::coroutine_handle<>* transfer, executor* here) noexcept {
    std::uintptr_t seen = status_.load(std::memory_order_acquire);
    while (true) {
      if (seen == blocked) return false;
      auto* joiner = reinterpret_cast<operation*>(seen);
      if (seen > blocked && joiner->owner() != here) return false;
      if (status_.compare_exchange_weak(seen, finished, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        break;
      }
    }
    // a cancel that raced it sees `done`: this result stands
    if (seen > blocked) {
      auto* joiner = reinterpret_cast<operation*>(seen);
      if (transfer) {
        *transfer = joiner->complete_for_transfer();
      } else {
        joiner->complete_local();
      }
    }
    return true;
  }

  static constexpr std::uintptr_t running = 0;
  static constexpr std::uintptr_t finished = 1;
  static constexpr std::uintptr_t blocked = 2;  // a thread sleeps in wait_blocking()

  outcome<T> outcome_;
  std::atomic<std::uintptr_t> status_{running};  // running, finished, blocked, or the joiner
  std::atomic<int> refs_{2};
  std::atomic<int> woken_{0};  // for a blocked thread
  std::mutex joiner_lock_;     // finish() waking the joiner vs the joiner withdrawing
  task_stop stop_;  // no std::stop_source: its state would be a heap allocation per task
  void* block_;              // the frame-pool block holding the spawned frame and this
  std::size_t block_size_;
  bool finished_here_ = false;  // for block_on's loop, on the task's own thread
};

// How spawned<T>'s promise ends: the task's result (or its end) goes to the join state.
template <class T>
class spawned_return {
 public:
  template <class U>
  void return_value(U&& v) {
    state_->set_value(std::forward<U>(v));
  }

 protected:
  explicit spawned_return(join_state<T>* state) noexcept : state_(state) {}
  join_state<T>* state_;
};
template <>
class spawned_return<void> {
 public:
  void return_void() noexcept { state_->set_value(); }

 protected:
  explicit spawned_return(join_state<void>* state) noexcept : state_(state) {}
  join_state<void>* state_;
};

// The frame spawn() runs: it awaits the user's task and reports to the join_state. It frees
// itself when done (final_suspend never suspends); an executor shutting down destroys it early.
template <class T>
class spawned {
 public:
  class promise_type : public spawned_return<T> {
    using spawned_return<T>::state_;

   public:
    // The frame and its join state in one block (see join_state): operator new makes the
    // state behind the frame and hands it out through `made`, to the caller and the promise.
    static void* operator new(std::size_t size, task<T>&, join_state<T>** made) {
      static_assert(alignof(join_state<T>) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
      const std::size_t block_size = state_offset(size) + sizeof(join_state<T>);
      void* block = frame_allocate(block_size);
      *made = ::new (static_cast<char*>(block) + state_offset(size)) join_state<T>(block, block_size);
      return block;
    }
    // The frame is destroyed (the promise finished the state): the task's reference goes.
    static void operator delete(void* block, std::size_t size) noexcept {
      std::launder(reinterpret_cast<join_state<T>*>(static_cast<char*>(block) + state_offset(size)))
          ->release();
    }
    promise_type(task<T>&, join_state<T>** made) noexcept : spawned_return<T>(*made) {}

    ~promise_type() {
      if (reported_) return;  // by the final awaiter
      if (owner_) untrack(*owner_, link_);
      state_->finish();
    }

    // At home, the task reports its end, frees its frame and continues into a joiner of this
    // thread by symmetric transfer (a spawn + join costs no trip through the ready queue). A
    // task that moved to another worker (switch_to) ends there; its frame goes home first,
    // because only the owner thread may untrack it, and reports from its destructor there.
    struct final_awaiter {
      promise_type& p;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(
          std::coroutine_handle<promise_type> self) const noexcept {
        promise_type& promise = p;  // this awaiter lives in the frame: nothing of it after destroy
        executor* const here = current_executor();
        if (promise.owner_ && promise.owner_ != here) {
          promise.node_.run = &destroy_at_home;
          post(*promise.owner_, promise.node_);
          return std::noop_coroutine();
        }
        if (promise.owner_) untrack(*promise.owner_, promise.link_);
        promise.reported_ = true;
        const std::coroutine_handle<> next = promise.state_->finish_to_joiner(here);
        // The block stays while the handle holds the state, so the joiner finds its result.
        self.destroy();
        // The stall report names the task that runs: the joiner now, not the frame just freed.
        if (here && next != std::noop_coroutine()) note_resuming(*here, next.address());
        return next;
      }
      void await_resume() const noexcept {}
    };

    spawned get_return_object() noexcept {
      return spawned(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    final_awaiter final_suspend() noexcept { return {*this}; }
    void unhandled_exception() noexcept { state_->set_exception(std::current_exception()); }
    stop_ref stop_token() const noexcept { return stop_ref(&state_->stop()); }
    task_trace* trace() noexcept { return &link_.trace; }
    void set_spawn_site(const source_site& at) noexcept {
      link_.trace.spawned_at = at;
      link_.trace.since_ms.store(coarse_clock_ms.load(std::memory_order_relaxed),
                                 std::memory_order_relaxed);
    }

    void start(executor& ex) {
      owner_ = &ex;
      link_.frame = std::coroutine_handle<promise_type>::from_promise(*this);
      link_.stop = &state_->stop();
      track(ex, link_);
      schedule(ex, link_.frame);
    }
    // From any thread: starts on `w`'s thread. False (not started) when `w` is shutting down.
    bool start_on(worker& w) noexcept {
      node_.run = &start_here;
      return post_to_worker(w, node_);
    }

   private:
    static constexpr std::size_t state_offset(std::size_t frame_size) noexcept {
      constexpr std::size_t align = alignof(join_state<T>);
      return (frame_size + align - 1) / align * align;
    }
    struct frame_node : remote_node {
      promise_type* promise = nullptr;
    };
    static promise_type& of(remote_node& n) noexcept { return *static_cast<frame_node&>(n).promise; }
    static void start_here(remote_node& n) noexcept { of(n).start(*current_executor()); }
    static void destroy_at_home(remote_node& n) noexcept {
      std::coroutine_handle<promise_type>::from_promise(of(n)).destroy();
    }

    executor* owner_ = nullptr;
    spawn_link link_;
    frame_node node_{{}, this};
    bool reported_ = false;  // the final awaiter untracked it and finished the state
  };

  std::coroutine_handle<promise_type> frame;

 private:
  explicit spawned(std::coroutine_handle<promise_type> f) noexcept : frame(f) {}
};

// `made` receives the task's join state, made with the frame (promise_type::operator new).
template <class T>
spawned<T> run_spawned(task<T> parameter, join_state<T>** made) {
  (void)made;  // for the promise's operator new and constructor only
  // A local, not the parameter: a frame torn down early destroys its locals before the promise
  // (which finishes the join state), its parameters after. The operations the task waits on
  // leave the stop state in the join state as they are destroyed, so they must go first.
  task<T> work = std::move(parameter);
  co_return co_await std::move(work);
}

// Awaiting a join handle: an operation the finishing task completes (from any thread), and
// that the awaiting task's stop cancels (unless shielded) without touching the joined task.
template <class T>
class join_awaiter final : public operation {
 public:
  static constexpr task_state corio_wait = task_state::join;
  join_awaiter(join_state<T>* state, bool shielded) noexcept
      : state_(state), shielded_(shielded) {}
  join_awaiter(const join_awaiter&) = delete;
  join_awaiter& operator=(const join_awaiter&) = delete;
  ~join_awaiter() {
    disarm();
    if (waiting_) state_->withdraw(*this);  // the frame died suspended here (shutdown)
  }

  bool await_ready() const noexcept { return state_->is_finished(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    // Armed before it is linked: a task finishing on another thread finds it ready to complete.
    if (!arm(h, shielded_ ? stop_ref{} : stop_token_of(h))) return false;  // stopped
    const auto outcome = state_->wait(*this);
    if (outcome == join_state<T>::wait_outcome::waiting) {
      waiting_ = true;
      return true;
    }
    // Not linked after all. A stop callback may already have posted our cancel, so we must
    // not resume right here: complete through the operation, which resumes us exactly once.
    busy_ = outcome == join_state<T>::wait_outcome::busy;
    complete_local();
    return true;
  }
  T await_resume() {
    disarm();
    waiting_ = false;
    // A cancelled await takes nothing: the outcome stays for the next await, even when the
    // task finished in a race with the cancel.
    if (canceled()) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "corio: awaiting a join_handle was cancelled; the task runs on");
    }
    if (busy_) {
      throw std::system_error(std::make_error_code(std::errc::device_or_resource_busy),
                              "corio: a join_handle awaited by two awaits at once");
    }
    return state_->take();
  }

 private:
  // The cancel path, on the awaiting thread.
  void unlink() noexcept override { state_->withdraw(*this); }

  join_state<T>* state_;
  bool shielded_;
  bool waiting_ = false;
  bool busy_ = false;
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] join_handle {
 public:
  join_handle(join_handle&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  join_handle& operator=(join_handle&& other) noexcept {
    if (this != &other) {
      detach();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  ~join_handle() { detach(); }

  // The task keeps running; its result is dropped.
  void detach() noexcept {
    if (state_) std::exchange(state_, nullptr)->release();
  }
  // Cancels the task's pending and future operations (see the top of this file).
  bool request_stop() noexcept { return state_ && state_->stop().request_stop(); }
  bool is_finished() const noexcept { return state_ && state_->is_finished(); }

  // Blocks the calling thread until the task finished, then like co_await. For threads that
  // are not corio threads (it would stall a worker): throws std::logic_error on one.
  T join() {
    if (detail::current_executor()) throw std::logic_error("join_handle::join on a corio thread");
    state_->wait_blocking();
    return state_->take();
  }

  // Yields the task's result, or rethrows its exception; the result is taken once, by the
  // first await that completes. Cancellable (see the top of this file): a stop of the awaiting
  // task, or a timeout/when_any around it, ends the await with std::system_error
  // (operation_canceled) at once; the task runs on and the handle may be awaited again. One
  // await at a time: a second concurrent one throws std::system_error(device_or_resource_busy).
  detail::join_awaiter<T> operator co_await() noexcept {
    return detail::join_awaiter<T>(state_, false);
  }
  // The same await, but no stop request reaches it: it waits for the task's end even in a
  // stopped task (request_stop() the children, then await them shielded, so none outlives its
  // parent). It cannot be given up, so stop the task first or be sure it ends.
  detail::join_awaiter<T> shielded() noexcept { return detail::join_awaiter<T>(state_, true); }

 private:
  template <class U>
  friend join_handle<U> spawn(task<U> work, source_site at);
  template <class U>
  friend U block_on(task<U> work, const runtime_options& options, source_site at);
  friend class runtime;
  explicit join_handle(detail::join_state<T>* state) noexcept : state_(state) {}
  detail::join_state<T>* state_;
};

// Lets the other ready tasks (and the reactor) run, then continues. An operation that can
// complete at once does not yield, so a loop over an always-ready socket should yield now and
// then: `co_await corio::yield();`.
struct [[nodiscard]] yield_awaiter {
  static constexpr task_state corio_wait = task_state::ready;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    detail::schedule(*detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};
inline yield_awaiter yield() noexcept { return {}; }

namespace this_task {
// Whether a stop was requested for the calling task (spawned tasks: by its join_handle, a task
// scope, or the runtime's shutdown), so a loop that does not await can still stop:
// `while (!co_await corio::this_task::stop_requested()) { ... }`. Never suspends.
struct [[nodiscard]] stop_requested_awaiter {
  bool stopped = false;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    stopped = detail::stop_token_of(h).stop_requested();
    return false;  // resume at once
  }
  bool await_resume() const noexcept { return stopped; }
};
inline stop_requested_awaiter stop_requested() noexcept { return {}; }
}  // namespace this_task

// Starts `work` on the calling thread's executor. `at` (leave it defaulted) is where the task was
// spawned, for the diagnostics.
template <class T>
join_handle<T> spawn(task<T> work, source_site at = source_site::current()) {
  detail::executor* ex = detail::current_executor();
  if (!ex) throw std::logic_error("corio::spawn called outside a corio thread");
  detail::join_state<T>* state = nullptr;
  auto frame = detail::run_spawned<T>(std::move(work), &state).frame;
  frame.promise().set_spawn_site(at);
  frame.promise().start(*ex);
  return join_handle<T>(state);
}

// Runs `work` to completion on a new executor on the calling thread and returns its result
// (or rethrows its exception). Not from inside a corio thread: that would block its executor.
template <class T>
T block_on(task<T> work, const runtime_options& options = {},
           source_site at = source_site::current()) {
  if (detail::current_executor()) {
    throw std::logic_error("corio::block_on called inside a corio thread");
  }
  detail::configure_diagnostics(options.stall_threshold, options.shutdown_deadline);
  auto scope = detail::executor_scope::create(options.backend);
  if (!scope) throw std::system_error(scope.error(), "corio::block_on");
  detail::apply_options(scope->get(), options);
  auto handle = spawn(std::move(work), at);
  if (auto r = scope->run_until(handle.state_->finished_flag()); !r) {
    throw std::system_error(r.error(), "corio::block_on");
  }
  return handle.state_->take();
}

// ---- The multi-threaded runtime ------------------------------------------------------------
//
//   corio::runtime rt({.threads = 4});
//   auto h = rt.spawn(work());                       // from any thread; round-robin
//   rt.spawn_on(2, other());                         // on worker 2
//   int v = rt.block_on(compute());                  // the calling thread waits
//   co_await corio::switch_to(rt.worker(1));         // inside a task: continue on worker 1
//
// Contracts and sharp edges:
// - One executor and one reactor per worker thread; nothing is shared by all workers on the hot
//   path (a spawn from outside takes one atomic increment and the target worker's queue lock).
//   Idle workers sleep in their reactor.
// - Sockets, timers and signal sets belong to the worker that made them (see tcp.hpp): after a
//   switch_to, use only what was made on the new worker. Hand a connection to another worker as
//   a raw net::tcp_stream (spawn_on / a channel) and register it there with from_raw.
// - A task belongs to the worker it was spawned on. It may run elsewhere after switch_to; when
//   it finishes there, its frame is sent home to be freed.
// - stop() (any thread, idempotent): every worker stops taking spawn_on/switch_to (those throw
//   or report operation_canceled from then on), requests stop on every task it owns, lets them
//   unwind for at most options.shutdown_grace, then all workers destroy what is left, each its
//   own frames on its own thread, and exit. The destructor calls stop() and joins; so
//   destroying a runtime with tasks pending is safe. Threads that are not workers must not
//   touch the runtime's tasks (channels, stop requests) while it is being destroyed.
// - block_on/join/run wait on the calling thread: not from a worker (std::logic_error).
class runtime;

// Where switch_to goes: one worker of a runtime.
class worker_ref {
 public:
  std::size_t index() const noexcept { return index_; }

 private:
  friend class runtime;
  friend class switch_awaiter;
  worker_ref(detail::worker* w, std::size_t i) noexcept : worker_(w), index_(i) {}
  detail::worker* worker_;
  std::size_t index_;
};

class [[nodiscard]] switch_awaiter {
 public:
  explicit switch_awaiter(worker_ref to) noexcept : target_(to.worker_) {}
  bool await_ready() const noexcept {
    return &detail::executor_of(*target_) == detail::current_executor();
  }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    node_.awaiting = h;
    node_.run = [](detail::remote_node& n) noexcept {
      auto& self = static_cast<node&>(n);
      detail::schedule(*detail::current_executor(), self.awaiting);
    };
    if (detail::post_to_worker(*target_, node_)) return true;  // may already run there: hands off
    refused_ = true;
    return false;
  }
  void await_resume() const {
    if (refused_) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "corio::switch_to: the worker is stopping");
    }
  }

 private:
  struct node : detail::remote_node {
    std::coroutine_handle<> awaiting;
  };
  detail::worker* target_;
  node node_;
  bool refused_ = false;
};

// co_await switch_to(w): the coroutine continues on worker w's thread (at once if already there).
inline switch_awaiter switch_to(worker_ref w) noexcept { return switch_awaiter(w); }

class runtime {
 public:
  explicit runtime(const runtime_options& options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  std::size_t size() const noexcept;
  worker_ref worker(std::size_t i) const;  // std::out_of_range past size()
  // The runtime whose worker the calling thread is, and that worker's index; outside a worker
  // nullptr and std::size_t(-1).
  static runtime* current() noexcept;
  static std::size_t current_index() noexcept;

  template <class T>
  join_handle<T> spawn(task<T> work, source_site site = source_site::current()) {
    return spawn_on(next_index(), std::move(work), site);
  }
  template <class T>
  join_handle<T> spawn_on(std::size_t i, task<T> work,
                          source_site site = source_site::current()) {
    detail::worker& w = at(i);
    detail::join_state<T>* state = nullptr;
    auto frame = detail::run_spawned<T>(std::move(work), &state).frame;
    frame.promise().set_spawn_site(site);
    // Refused (stopping): the frame goes now, and the handle reports operation_canceled.
    if (!frame.promise().start_on(w)) frame.destroy();
    return join_handle<T>(state);
  }
  template <class T>
  T block_on(task<T> work, source_site site = source_site::current()) {
    if (detail::current_executor()) throw std::logic_error("runtime::block_on on a corio thread");
    return spawn(std::move(work), site).join();
  }
  // block_on, then stop() and join(): the runtime is done when it returns.
  template <class T>
  T run(task<T> work, source_site site = source_site::current()) {
    struct finish {
      runtime& rt;
      ~finish() {
        rt.stop();
        rt.join();
      }
    } at_exit{*this};
    return block_on(std::move(work), site);
  }

  void stop() noexcept;
  // Waits until every worker exited (after stop()). Not from a worker.
  void join();

  // corio/diagnostics.hpp's dump() and metrics(), for this runtime's workers only.
  std::string dump() const;
  std::vector<worker_metrics> metrics() const;

  struct state;  // opaque: lib/executor/runtime.cpp

 private:
  detail::worker& at(std::size_t i) const;
  std::size_t next_index() noexcept;
  std::unique_ptr<state> state_;
};

// spawn_on from inside a runtime's task: on worker i of the calling thread's runtime.
template <class T>
join_handle<T> spawn_on(std::size_t i, task<T> work, source_site at = source_site::current()) {
  runtime* rt = runtime::current();
  if (!rt) throw std::logic_error("corio::spawn_on called outside a runtime worker");
  return rt->spawn_on(i, std::move(work), at);
}

}  // namespace corio
