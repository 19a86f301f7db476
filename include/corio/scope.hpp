// task_scope: structured concurrency (tokio's JoinSet, trio's nursery, C++26's counting_scope).
// Tasks spawned into a scope are cancelled and awaited before their owner goes on.
//
//   corio::task_scope<int> scope(corio::scope_policy::cancel_on_failure);
//   for (auto& peer : peers) scope.spawn(ask(peer));          // start now, on this thread
//   while (auto v = co_await scope.next()) tally(*v);         // results as they finish
//   co_await scope.join();                                    // or close(): cancel, then join
//
// Contracts and sharp edges:
// - Children run on the thread that spawned them (the scope's thread); the scope is used
//   from that thread only. Each child runs in a frame of the frame pool.
// - Cancellation: every child has a stop state of its own, which the scope stops. cancel()
//   stops them all (their pending and later operations end with operation_canceled). While the
//   owner awaits next() or join(), a stop of the owner's own task reaches the children too, so
//   a stopped parent's children stop, and the parent still waits for them to finish.
// - Failure: a child fails when it throws, or returns a result<U> holding an error other than
//   operation_canceled. With scope_policy::cancel_on_failure the first failure cancels every
//   sibling (trio's nursery); with keep_going (the default, tokio's JoinSet) the others run on.
// - next(): std::optional of the next child to finish, in completion order (rethrows what it
//   threw); std::nullopt once no child is left. A task<void> child yields std::monostate.
// - join(): waits until every child has finished; results not taken by next() are dropped;
//   then rethrows the first exception among them, if any. close() cancels first.
// - Await join() or close() before the scope goes out of scope. The destructor of a scope with
//   running children (an owner destroyed at executor shutdown) destroys their frames at once,
//   withdrawing their pending operations (their destructors do; no cancel is posted for them).
// - Allocation: spawn allocates the child's frame from the pool, and the child's stop state is
//   one word in it (detail/task_stop.hpp; no std::stop_source); the scope itself and
//   next/join allocate nothing.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include <corio/detail/executor.hpp>
#include <corio/detail/frame_pool.hpp>
#include <corio/task.hpp>
#include <corio/when.hpp>

namespace corio {

enum class scope_policy : bool { keep_going, cancel_on_failure };

template <class T = void>
class task_scope;

namespace detail {

// True for a child's value that counts as a failure under cancel_on_failure.
template <class V>
bool scope_value_failed(const V& v) noexcept {
  if constexpr (requires { v.has_value(); v.error(); }) {
    return !v.has_value() && v.error() != std::errc::operation_canceled;
  } else {
    return false;
  }
}

template <class T>
class scope_child {
 public:
  using value_type = when_value_t<T>;

  class promise_type {
   public:
    promise_type(task<T>&, task_scope<T>& scope) noexcept : scope_(&scope) {}
    static void* operator new(std::size_t size) { return frame_allocate(size); }
    static void operator delete(void* frame, std::size_t size) noexcept {
      frame_deallocate(frame, size);
    }

    scope_child get_return_object() noexcept {
      return scope_child(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct report {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> self) const noexcept {
          self.promise().scope_->child_finished(self.promise());
        }
        void await_resume() const noexcept {}
      };
      return report{};
    }
    template <class U>
    void return_value(U&& value) {
      outcome.set_value(std::forward<U>(value));
    }
    void unhandled_exception() noexcept { outcome.set_exception(std::current_exception()); }
    // What stop_token_of() finds when the child awaits: its own stop state, which the scope
    // stops. One chain of awaits, one operation at a time: what task_stop serves.
    stop_ref stop_token() noexcept { return stop_ref(&stop); }

    bool failed() const noexcept {
      return outcome.has_exception() || (outcome.has_value() && scope_value_failed(outcome.value()));
    }
    std::coroutine_handle<promise_type> frame() noexcept {
      return std::coroutine_handle<promise_type>::from_promise(*this);
    }

    detail::outcome<value_type> outcome;
    promise_type* prev = nullptr;  // running list, then the finished queue (next only)
    promise_type* next = nullptr;
    task_stop stop;

   private:
    task_scope<T>* scope_;
  };

  std::coroutine_handle<promise_type> frame;

 private:
  explicit scope_child(std::coroutine_handle<promise_type> f) noexcept : frame(f) {}
};

template <class T>
scope_child<T> run_scoped(task<T> parameter, task_scope<T>&) {
  // Awaiting the task hands it this frame's stop_token(): the child's own stop state. A local,
  // not the parameter: a frame torn down early destroys its locals before the promise (which
  // holds that stop state), its parameters after; the operations the task waits on leave the
  // stop state as they are destroyed, so they must go first.
  task<T> work = std::move(parameter);
  if constexpr (std::is_void_v<T>) {
    co_await std::move(work);
    co_return std::monostate{};
  } else {
    co_return co_await std::move(work);
  }
}

}  // namespace detail

template <class T>
class task_scope {
  using child_promise = typename detail::scope_child<T>::promise_type;

 public:
  using value_type = detail::when_value_t<T>;

  explicit task_scope(scope_policy policy = scope_policy::keep_going) : policy_(policy) {}
  task_scope(const task_scope&) = delete;
  task_scope& operator=(const task_scope&) = delete;
  ~task_scope() {
    // No stop request: it would post cancels for operations about to be destroyed. Destroying
    // a frame withdraws its pending operation.
    canceled_ = true;
    while (running_head_) destroy_child(unlink_running(*running_head_));
    while (child_promise* p = pop_finished()) destroy_child(*p);
  }

  // Starts `work` now, on this thread, as a child of the scope. A scope already cancelled
  // still starts it: its operations then end with operation_canceled at once.
  void spawn(task<T> work) {
    detail::executor* ex = detail::current_executor();
    if (!ex) throw std::logic_error("corio::task_scope::spawn outside a corio thread");
    auto child = detail::run_scoped<T>(std::move(work), *this);
    child_promise& p = child.frame.promise();
    if (canceled_) (void)p.stop.request_stop();
    p.next = running_head_;
    if (running_head_) running_head_->prev = &p;
    running_head_ = &p;
    ++running_;
    detail::schedule(*ex, child.frame);
  }

  // Stops every child (and those spawned later).
  void cancel() noexcept {
    canceled_ = true;
    for (child_promise* p = running_head_; p; p = p->next) (void)p->stop.request_stop();
  }
  bool canceled() const noexcept { return canceled_; }
  // Children running or finished and not yet taken.
  std::size_t size() const noexcept { return running_ + finished_; }
  bool empty() const noexcept { return size() == 0; }

  class next_awaiter;
  class join_awaiter;
  // std::optional<value_type>: the next child to finish, or nullopt when none is left.
  next_awaiter next() noexcept { return next_awaiter(*this); }
  // Waits for every child; rethrows the first exception among results not taken.
  join_awaiter join() noexcept { return join_awaiter(*this, mode::join); }
  // cancel(), then join().
  join_awaiter close() noexcept { return join_awaiter(*this, mode::close); }

 private:
  friend child_promise;
  enum class mode : std::uint8_t { next, join, close };

  // Not cancellable itself: the owner's stop goes to the children (when.hpp's forwarding_wait).
  class wait_operation final : public detail::forwarding_wait {
   public:
    explicit wait_operation(task_scope& scope) noexcept : scope_(scope) {}

   private:
    void forward_stop() noexcept override { scope_.cancel(); }
    task_scope& scope_;
  };

 public:
  // What next(), join() and close() share: resumes the owner when the scope is ready for it.
  class waiter_base {
   public:
    waiter_base(task_scope& scope, mode m) noexcept : scope_(&scope), mode_(m), op_(scope) {}
    waiter_base(const waiter_base&) = delete;
    waiter_base& operator=(const waiter_base&) = delete;

    bool await_ready() const noexcept {
      if (mode_ == mode::close) scope_->cancel();
      return satisfied();
    }
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> h) noexcept {
      // The owner's stop reaches the children while it waits for them.
      op_.arm_forwarding(h);
      assert(!scope_->waiter_ && "one next() or join() at a time");
      scope_->waiter_ = this;
    }

   protected:
    ~waiter_base() {
      op_.disarm();
      if (scope_->waiter_ == this) scope_->waiter_ = nullptr;
    }
    void resumed() noexcept {
      op_.disarm();
      scope_->waiter_ = nullptr;
    }
    task_scope* scope_;

   private:
    friend class task_scope;
    bool satisfied() const noexcept {
      return mode_ == mode::next ? (scope_->finished_ > 0 || scope_->running_ == 0)
                                 : scope_->running_ == 0;
    }

    mode mode_;
    wait_operation op_;
  };

  class [[nodiscard]] next_awaiter final : public waiter_base {
   public:
    explicit next_awaiter(task_scope& s) noexcept : waiter_base(s, mode::next) {}
    std::optional<value_type> await_resume() {
      this->resumed();
      return this->scope_->take_next();
    }
  };

  class [[nodiscard]] join_awaiter final : public waiter_base {
   public:
    join_awaiter(task_scope& s, mode m) noexcept : waiter_base(s, m) {}
    void await_resume() {
      this->resumed();
      this->scope_->drain();
    }
  };

 private:
  // On the scope's thread, from a child's final suspension.
  void child_finished(child_promise& p) noexcept {
    unlink_running(p);
    p.next = nullptr;
    p.prev = finished_tail_;
    if (finished_tail_) {
      finished_tail_->next = &p;
    } else {
      finished_head_ = &p;
    }
    finished_tail_ = &p;
    ++finished_;
    if (policy_ == scope_policy::cancel_on_failure && p.failed()) cancel();
    if (waiter_ && waiter_->satisfied()) {
      waiter_base* w = std::exchange(waiter_, nullptr);
      w->op_.finish();
    }
  }

  child_promise& unlink_running(child_promise& p) noexcept {
    if (p.prev) p.prev->next = p.next;
    if (p.next) p.next->prev = p.prev;
    if (running_head_ == &p) running_head_ = p.next;
    p.prev = p.next = nullptr;
    --running_;
    return p;
  }

  child_promise* pop_finished() noexcept {
    child_promise* p = finished_head_;
    if (!p) return nullptr;
    finished_head_ = p->next;
    if (finished_head_) {
      finished_head_->prev = nullptr;
    } else {
      finished_tail_ = nullptr;
    }
    --finished_;
    return p;
  }

  static void destroy_child(child_promise& p) noexcept { p.frame().destroy(); }

  std::optional<value_type> take_next() {
    child_promise* p = pop_finished();
    if (!p) return std::nullopt;
    struct destroy_after {
      child_promise* p;
      ~destroy_after() { destroy_child(*p); }
    } guard{p};
    return std::optional<value_type>(p->outcome.take());
  }

  void drain() {
    std::exception_ptr first;
    while (child_promise* p = pop_finished()) {
      if (!first && p->outcome.has_exception()) first = p->outcome.exception();
      destroy_child(*p);
    }
    if (first) std::rethrow_exception(first);
  }

  scope_policy policy_;
  bool canceled_ = false;
  child_promise* running_head_ = nullptr;
  child_promise* finished_head_ = nullptr;
  child_promise* finished_tail_ = nullptr;
  std::size_t running_ = 0;
  std::size_t finished_ = 0;
  waiter_base* waiter_ = nullptr;
};

}  // namespace corio
