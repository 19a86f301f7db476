// task<T>: corio's coroutine type. Lazy, move-only, and awaited exactly once, after cppcoro's.
//
//   corio::task<int> answer() { co_return 42; }
//   corio::task<> ask() { int v = co_await answer(); ... }
//
// Sharp edges, read these before using it:
// - Lazy. Calling a task function only copies its parameters into a frame; the body starts when
//   the task is awaited (or handed to the executor). A task dropped unawaited never runs.
// - Parameters. The body runs later than the call, so a reference parameter (or the captures
//   of a lambda coroutine) must outlive the await. Pass by value what must survive.
// - Awaited once. co_await moves the result out of the frame; a second co_await of the same task
//   is undefined behaviour. co_await of a moved-from or released task is too.
// - Destruction. Destroying a task destroys its frame. That is safe for a task that never
//   started or that finished; a task suspended inside an operation belongs to whoever will
//   resume it, and destroying it then is the cancellation path's job, not the task's.
// - Stack. A task continues its awaiter by symmetric transfer from final_suspend, so any chain
//   of synchronously completing co_awaits runs in constant stack.
// - Frames come from a per-thread pool (detail/frame_pool.hpp): no malloc in steady state.
//
// Starting a task without an awaiter (what the executor does):
//   auto frame = t.release();               // the caller now owns the frame
//   frame.promise().set_continuation(next);  // optional; by default completion returns to resume()
//   frame.resume();                          // runs the body up to its first real suspension
//   ... once frame.done(): frame.promise().result() yields the value or rethrows;
//   frame.destroy() exactly once, when the body never started or has finished.
#pragma once

#include <cassert>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <utility>
#include <variant>

#include <corio/detail/frame_pool.hpp>
#include <corio/detail/outcome.hpp>
#include <corio/detail/task_stop.hpp>
#include <corio/detail/task_trace.hpp>

namespace corio {

template <typename T = void>
class task;

namespace detail {

// Where a finished body leaves its outcome (outcome.hpp). The promise derives from it so that
// only the kind of co_return varies between specializations.
template <typename T>
class task_result {
 public:
  // The default argument lets `co_return {a, b};` build a T in place.
  template <typename U = T>
    requires std::convertible_to<U&&, T>
  void return_value(U&& value) {
    outcome_.set_value(std::forward<U>(value));
  }
  void unhandled_exception() noexcept { outcome_.set_exception(std::current_exception()); }

  // Precondition: the body finished. Moves the value out: a result is taken once.
  T result() { return outcome_.take(); }

 private:
  outcome<T> outcome_;
};

template <typename T>
class task_result<T&> {
 public:
  void return_value(T& value) noexcept { outcome_.set_value(value); }
  void unhandled_exception() noexcept { outcome_.set_exception(std::current_exception()); }
  T& result() { return outcome_.take(); }

 private:
  outcome<T&> outcome_;
};

template <>
class task_result<void> {
 public:
  void return_void() noexcept {}
  void unhandled_exception() noexcept { outcome_.set_exception(std::current_exception()); }
  void result() { outcome_.take(); }

 private:
  outcome<void> outcome_;
};

}  // namespace detail

template <typename T>
class [[nodiscard]] task {
 public:
  // await_tracing: the await_transform that notes each co_await's site (task_trace.hpp).
  class promise_type : public detail::task_result<T>, public detail::await_tracing {
   public:
    // Frames come from the calling thread's pool; the sized delete tells the pool the class.
    static void* operator new(std::size_t size) { return detail::frame_allocate(size); }
    static void operator delete(void* frame, std::size_t size) noexcept {
      detail::frame_deallocate(frame, size);
    }

    task get_return_object() noexcept {
      return task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }  // lazy
    auto final_suspend() const noexcept { return final_awaiter{}; }

    // Who runs when the body finishes. Without one, completion returns from resume().
    void set_continuation(std::coroutine_handle<> next) noexcept { continuation_ = next; }

    // Cancellation reaches the operations this task awaits through this reference (a spawned
    // task's stop state, or a std::stop_token); awaiting a task hands it the awaiter's, so a
    // stop request covers the whole chain of awaits.
    const detail::stop_ref& stop_token() const noexcept { return stop_; }
    void set_stop_token(detail::stop_ref stop) noexcept { stop_ = std::move(stop); }

    // The spawned task this frame runs for (null outside one): a co_await that suspends notes
    // its site there for the diagnostics (corio/diagnostics.hpp). The awaiter is wrapped, never
    // copied or moved, and writes the note only when it really suspends (one that completes at
    // once costs one store of a constant into its own frame; task_trace.hpp).
    detail::task_trace* trace() const noexcept { return trace_; }
    void set_trace(detail::task_trace* t) noexcept { trace_ = t; }

   private:
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      // Returning the handle (rather than calling resume()) makes the switch a tail call:
      // the finished frame's stack is gone before the awaiter runs.
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) noexcept {
        return self.promise().continuation_;
      }
      void await_resume() const noexcept {}
    };

    std::coroutine_handle<> continuation_ = std::noop_coroutine();
    detail::stop_ref stop_;
    detail::task_trace* trace_ = nullptr;
  };

  // Adopts a frame, such as one given up by release().
  explicit task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}

  task(task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (frame_) frame_.destroy();
  }

  // True once the body has returned or thrown; false for a moved-from or released task.
  [[nodiscard]] bool done() const noexcept { return frame_ && frame_.done(); }

  // Gives up the frame: the caller resumes it and destroys it exactly once (see the top).
  [[nodiscard]] std::coroutine_handle<promise_type> release() noexcept {
    return std::exchange(frame_, {});
  }

  // Awaiting starts the body and yields its result (or rethrows its exception).
  auto operator co_await() noexcept {
    assert(frame_ && "co_await of a moved-from or released task");
    return awaiter{frame_};
  }

 private:
  struct awaiter {
    std::coroutine_handle<promise_type> frame;

    bool await_ready() const noexcept { return frame.done(); }
    // Symmetric transfer into the body: starting it does not nest a resume() on our stack.
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
      frame.promise().set_continuation(awaiting);
      if constexpr (requires { awaiting.promise().stop_token(); }) {
        frame.promise().set_stop_token(awaiting.promise().stop_token());
      }
      if constexpr (requires { awaiting.promise().trace(); }) {
        frame.promise().set_trace(awaiting.promise().trace());
      }
      return frame;
    }
    T await_resume() { return frame.promise().result(); }
  };

  std::coroutine_handle<promise_type> frame_;
};

}  // namespace corio
