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
// - Awaiting a join_handle is not itself cancellable: it waits for the task to finish.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include <corio/detail/executor.hpp>
#include <corio/detail/frame_pool.hpp>
#include <corio/error.hpp>
#include <corio/reactor.hpp>
#include <corio/task.hpp>

namespace corio {

struct runtime_options {
  backend_kind backend = backend_kind::automatic;
};

namespace detail {

// What a spawned task leaves for its handle. Shared by the task's frame and the handle (two
// references), so either may go first; lives in the frame pool like the frames themselves.
template <class T>
class join_state {
 public:
  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }

  using stored = std::conditional_t<std::is_void_v<T>, std::monostate,
                                    std::conditional_t<std::is_reference_v<T>,
                                                       std::remove_reference_t<T>*, T>>;

  template <class... U>
  void set_value(U&&... v) {
    if constexpr (std::is_reference_v<T>) {
      outcome_.template emplace<1>(std::addressof(v)...);
    } else {
      outcome_.template emplace<1>(std::forward<U>(v)...);
    }
  }
  void set_exception(std::exception_ptr e) noexcept { outcome_.template emplace<2>(std::move(e)); }

  // The task's side is over (it finished, or its executor destroyed it): wake a joiner.
  void finish() noexcept {
    finished_here_ = true;
    const std::uintptr_t prev = status_.exchange(finished, std::memory_order_acq_rel);
    if (prev > finished) {
      auto* joiner = reinterpret_cast<operation*>(prev);
      if (joiner->owner() == current_executor()) {
        joiner->complete_local();
      } else {
        joiner->complete_remote();
      }
    }
    release();
  }

  bool is_finished() const noexcept {
    return status_.load(std::memory_order_acquire) == finished;
  }
  const bool& finished_flag() const noexcept { return finished_here_; }

  // False when the task finished meanwhile (do not suspend).
  bool wait(operation& joiner) noexcept {
    std::uintptr_t expected = running;
    return status_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&joiner),
                                           std::memory_order_acq_rel);
  }

  T take() {
    if (outcome_.index() == 2) std::rethrow_exception(std::get<2>(outcome_));
    if (outcome_.index() == 0) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "task destroyed before it finished");
    }
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (std::is_reference_v<T>) {
      return *std::get<1>(outcome_);
    } else {
      return std::move(std::get<1>(outcome_));
    }
  }

  std::stop_source& stop() noexcept { return stop_; }

  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  static constexpr std::uintptr_t running = 0;
  static constexpr std::uintptr_t finished = 1;

  std::variant<std::monostate, stored, std::exception_ptr> outcome_;
  std::atomic<std::uintptr_t> status_{running};  // running, finished, or the waiting joiner
  std::atomic<int> refs_{2};
  std::stop_source stop_;
  bool finished_here_ = false;  // for block_on's loop, on the task's own thread
};

// The frame spawn() runs: it awaits the user's task and reports to the join_state. It frees
// itself when done (final_suspend never suspends); an executor shutting down destroys it early.
template <class T>
class spawned {
 public:
  class promise_type {
   public:
    promise_type(task<T>&, join_state<T>* state) noexcept : state_(state) {}
    static void* operator new(std::size_t size) { return frame_allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { frame_deallocate(p, size); }

    ~promise_type() {
      if (owner_) untrack(*owner_, link_);
      state_->finish();
    }

    spawned get_return_object() noexcept {
      return spawned(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { state_->set_exception(std::current_exception()); }
    std::stop_token stop_token() const noexcept { return state_->stop().get_token(); }

    void start(executor& ex) {
      owner_ = &ex;
      link_.frame = std::coroutine_handle<promise_type>::from_promise(*this);
      track(ex, link_);
      schedule(ex, link_.frame);
    }

   private:
    join_state<T>* state_;
    executor* owner_ = nullptr;
    spawn_link link_;
  };

  std::coroutine_handle<promise_type> frame;

 private:
  explicit spawned(std::coroutine_handle<promise_type> f) noexcept : frame(f) {}
};

template <class T>
spawned<T> run_spawned(task<T> work, join_state<T>* state) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(work);
    state->set_value();
  } else {
    state->set_value(co_await std::move(work));
  }
}

// Awaiting a join handle: an operation the finishing task completes (from any thread).
template <class T>
class join_awaiter final : public operation {
 public:
  explicit join_awaiter(join_state<T>* state) noexcept : state_(state) {}
  bool await_ready() const noexcept { return state_->is_finished(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    (void)arm(h, std::stop_token{});  // not cancellable: an empty token never stops
    return state_->wait(*this);
  }
  T await_resume() {
    disarm();
    return state_->take();
  }

 private:
  void unlink() noexcept override {}
  join_state<T>* state_;
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

  // Yields the task's result, or rethrows its exception. Await at most once.
  detail::join_awaiter<T> operator co_await() noexcept { return detail::join_awaiter<T>(state_); }

 private:
  template <class U>
  friend join_handle<U> spawn(task<U> work);
  template <class U>
  friend U block_on(task<U> work, const runtime_options& options);
  explicit join_handle(detail::join_state<T>* state) noexcept : state_(state) {}
  detail::join_state<T>* state_;
};

// Lets the other ready tasks (and the reactor) run, then continues. An operation that can
// complete at once does not yield, so a loop over an always-ready socket should yield now and
// then: `co_await corio::yield();`.
struct [[nodiscard]] yield_awaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    detail::schedule(*detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};
inline yield_awaiter yield() noexcept { return {}; }

// Starts `work` on the calling thread's executor.
template <class T>
join_handle<T> spawn(task<T> work) {
  detail::executor* ex = detail::current_executor();
  if (!ex) throw std::logic_error("corio::spawn called outside a corio thread");
  auto* state = new detail::join_state<T>();
  auto frame = detail::run_spawned<T>(std::move(work), state).frame;
  frame.promise().start(*ex);
  return join_handle<T>(state);
}

// Runs `work` to completion on a new executor on the calling thread and returns its result
// (or rethrows its exception). Not from inside a corio thread: that would block its executor.
template <class T>
T block_on(task<T> work, const runtime_options& options = {}) {
  if (detail::current_executor()) {
    throw std::logic_error("corio::block_on called inside a corio thread");
  }
  auto scope = detail::executor_scope::create(options.backend);
  if (!scope) throw std::system_error(scope.error(), "corio::block_on");
  auto handle = spawn(std::move(work));
  if (auto r = scope->run_until(handle.state_->finished_flag()); !r) {
    throw std::system_error(r.error(), "corio::block_on");
  }
  return handle.state_->take();
}

}  // namespace corio
