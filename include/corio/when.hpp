// when_all and when_any: run tasks, or any awaitables, concurrently on the current thread and
// wait for all of them, or for the first one.
//
//   auto [a, b] = co_await corio::when_all(fetch(x), fetch(y));   // std::tuple<A, B>
//   auto first = co_await corio::when_any(recv(rx), shutdown());  // when_any_result<A, B>
//   if (first.index == 0) use(std::get<0>(first.value));
//   // select over anything: a read, a message or a tick, whichever comes first
//   auto s = co_await corio::when_any(sock.read(buf), rx.recv(), every.tick());
//
// Contracts, read these before using them:
// - Children start on the awaiting coroutine's executor, in argument order, each in a small
//   frame of its own from the frame pool. They interleave on this thread; nothing runs in
//   parallel, so they may share state without locks.
// - Results go by position. A task<void> yields std::monostate, a task<T&> yields
//   std::reference_wrapper<T>.
// - when_all waits for every child. When some throw, the exception of the first to fail (in
//   completion order) is rethrown once all have finished; the other results are dropped. A
//   failure does not cancel the siblings.
// - when_any: the first child to finish wins, with a value or an exception. The others are
//   cancelled (their pending and later operations end with operation_canceled) and have
//   finished before when_any returns. A loser's value (it completed in a race with the winner)
//   is kept in when_any_result::others; its exception is dropped. A winner's exception is
//   rethrown.
// - Stop: the awaiting task's stop token reaches every child, so stopping it cancels them
//   all; the combinator still waits for each child to finish before it returns.
// - Allocation: the frames come from the pool, and nothing else is allocated. Each child's
//   stop state is one word in its own frame (detail/task_stop.hpp), not a std::stop_source:
//   the parent's stop reaches the children through the operation the parent waits on.
// - Any awaitable (a socket read, rx.recv(), iv.tick(), a join handle, ...) may stand beside
//   or instead of tasks. It is held by reference, like timeout's: pass it as a temporary inside
//   the co_await expression itself, never from a variable that dies first. Its result goes by
//   position like a task's (result<T> stays result<T>).
// - Nothing lost in a select: once a child won, an awaitable child that has not started yet is
//   not started at all (a ready rx.recv() would otherwise take a message nobody reads), and
//   one that is pending is cancelled, which an operation honours without consuming (a recv
//   whose cancel won leaves its message queued). A loser that had already completed, in a race
//   with the winner, keeps its result in when_any_result::others (at its position; empty for
//   the winner and for losers that ended cancelled or with an exception).
// - Ranges: when_all(std::vector<task<T>>) yields std::vector<T> (nothing for T = void);
//   when_any(std::vector<task<T>>) yields std::pair<std::size_t, T>, index first. when_any of
//   an empty vector throws std::invalid_argument.
#pragma once

#include <array>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <corio/detail/executor.hpp>
#include <corio/detail/frame_pool.hpp>
#include <corio/detail/outcome.hpp>
#include <corio/task.hpp>

namespace corio {

// What when_any(task<Ts>...) yields: the winner's position and its result at that position.
template <class... Ts>
struct when_any_result {
  std::size_t index;
  std::variant<Ts...> value;
  // Losers that completed anyway (see the top of this file): nothing they took is dropped.
  std::tuple<std::optional<Ts>...> others;
};

namespace detail {

template <class T>
using when_value_t =
    std::conditional_t<std::is_void_v<T>, std::monostate,
                       std::conditional_t<std::is_reference_v<T>,
                                          std::reference_wrapper<std::remove_reference_t<T>>, T>>;

template <class T>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<task<T>> = true;

// What a child returns when a first-wins race was decided before it started.
struct skipped_child {};

// A child's stop state: one word in the child's frame, listed in its group so that the group
// can stop every child (when_any's losers, or all of them on the parent's stop). Each child
// is a chain of awaits waiting on one operation at a time, which is what task_stop serves.
struct child_stop {
  task_stop stop;
  child_stop* next_sibling = nullptr;
};

// The operation a combinator's owner waits on while its children run. It is armed on the
// owner's own stop, so a stop request takes its cancel path (operation.cpp), which here stops
// the children instead of resuming the owner (withdraw() says "not yet"): the owner resumes
// once they have all finished, as it would without the stop. No std::stop_callback, no
// std::stop_source: the stop travels through operations the frames already hold.
class forwarding_wait : public operation {
 public:
  // Owner thread, from await_suspend. A stop already requested stops the children at once,
  // and the wait is then armed without a stop (it cannot be given up).
  template <class Promise>
  void arm_forwarding(std::coroutine_handle<Promise> owner) noexcept {
    withdrawn_ = false;
    if (!arm(owner, stop_token_of(owner))) {
      forward_stop();
      (void)arm(owner, stop_ref{});
    }
  }
  // Owner thread, when what it waits for is there.
  void finish() noexcept {
    if (withdrawn_) {
      resume_withdrawn(false);
    } else {
      complete_local();  // a cancel already posted sees `done` and resumes the owner instead
    }
  }

 protected:
  ~forwarding_wait() = default;
  virtual void forward_stop() noexcept = 0;

 private:
  void unlink() noexcept override {}  // linked nowhere: finish() completes it
  bool withdraw() noexcept override {
    withdrawn_ = true;
    forward_stop();
    return false;  // finish() resumes the owner
  }
  bool withdrawn_ = false;
};

// The parent's side of one when_all/when_any: counts the children still running and resumes
// the parent, through one operation, when the last one finishes. Lives in the combinator's
// frame; every child finishes on the owner thread, so the counter needs no atomics.
class when_group {
 public:
  enum class mode : bool { all, first_wins };
  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  when_group(std::size_t children, mode m) noexcept
      : remaining_(children), first_wins_(m == mode::first_wins), join_(*this) {}
  when_group(const when_group&) = delete;
  when_group& operator=(const when_group&) = delete;

  // Each child's frame lists its stop state here as it is made: in argument order, which is
  // the order a stop reaches them.
  void enlist(child_stop& child) noexcept {
    *last_child_ = &child;
    last_child_ = &child.next_sibling;
  }
  std::size_t winner() const noexcept { return winner_; }
  // A first-wins group whose race is over: children not yet started need not start.
  bool decided() const noexcept { return first_wins_ && winner_ != none; }
  void rethrow_first_failure() const {
    if (first_error_) std::rethrow_exception(first_error_);
  }

  // Each child reports here from its final suspension, on the owner thread.
  void finished(std::size_t index, const std::exception_ptr& error, bool skipped) noexcept {
    assert(remaining_ > 0 && join_.owner() == current_executor());
    if (error && !first_error_) first_error_ = error;
    if (first_wins_ && winner_ == none && !skipped) {
      winner_ = index;
      stop_children();  // losers' operations post their cancellation; none runs here
    }
    if (--remaining_ == 0) join_.finish();
  }

  // Awaiting starts the children and resumes when all have finished.
  class run_awaiter {
   public:
    run_awaiter(when_group& group, std::span<const std::coroutine_handle<>> children) noexcept
        : group_(group), children_(children) {}
    bool await_ready() const noexcept { return children_.empty(); }
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> parent) noexcept {
      // The parent's stop reaches the children, and we still wait for them.
      group_.join_.arm_forwarding(parent);
      executor* ex = current_executor();
      for (auto child : children_) schedule(*ex, child);
    }
    void await_resume() noexcept { group_.join_.disarm(); }

   private:
    when_group& group_;
    std::span<const std::coroutine_handle<>> children_;
  };
  run_awaiter run(std::span<const std::coroutine_handle<>> children) noexcept {
    return run_awaiter(*this, children);
  }

 private:
  class join_operation final : public forwarding_wait {
   public:
    explicit join_operation(when_group& group) noexcept : group_(group) {}

   private:
    void forward_stop() noexcept override { group_.stop_children(); }
    when_group& group_;
  };

  // Owner thread. A child that finished keeps its stop requested, harmlessly.
  void stop_children() noexcept {
    for (child_stop* c = children_; c; c = c->next_sibling) (void)c->stop.request_stop();
  }

  std::size_t remaining_;
  std::size_t winner_ = none;
  bool first_wins_;
  std::exception_ptr first_error_;
  child_stop* children_ = nullptr;
  child_stop** last_child_ = &children_;
  join_operation join_;
};

// One child: a coroutine that awaits the work and keeps its outcome for the parent. It stays
// suspended at the end until its owner (in the combinator's frame) destroys it.
template <class T>
class [[nodiscard]] when_child {
 public:
  using value_type = when_value_t<T>;

  class promise_type {
   public:
    template <class Work>
    promise_type(Work&&, when_group& group, std::size_t index) noexcept
        : group_(&group), index_(index) {
      group.enlist(stop_);
    }
    static void* operator new(std::size_t size) { return frame_allocate(size); }
    static void operator delete(void* frame, std::size_t size) noexcept {
      frame_deallocate(frame, size);
    }

    when_child get_return_object() noexcept {
      return when_child(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    auto final_suspend() const noexcept {
      struct report {
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> self) const noexcept {
          promise_type& p = self.promise();
          p.group_->finished(p.index_,
                             p.outcome_.has_exception() ? p.outcome_.exception()
                                                     : std::exception_ptr{},
                             p.skipped_);
        }
        void await_resume() const noexcept {}
      };
      return report{};
    }
    template <class U>
    void return_value(U&& value) {
      outcome_.set_value(std::forward<U>(value));
    }
    // The race was decided before this child started: it never ran its work.
    void return_value(skipped_child) noexcept { skipped_ = true; }
    void unhandled_exception() noexcept { outcome_.set_exception(std::current_exception()); }
    // What stop_token_of() finds when the child awaits an operation: its own stop state.
    stop_ref stop_token() noexcept { return stop_ref(&stop_.stop); }

   private:
    friend when_child;
    when_group* group_;
    std::size_t index_;
    child_stop stop_;
    detail::outcome<value_type> outcome_;
    bool skipped_ = false;
  };

  when_child(when_child&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  when_child& operator=(when_child&&) = delete;
  ~when_child() {
    if (frame_) frame_.destroy();
  }

  std::coroutine_handle<> handle() const noexcept { return frame_; }
  // Precondition: finished. Moves the value out, or rethrows.
  value_type take() {
    return frame_.promise().outcome_.take();
  }
  bool failed() const noexcept { return frame_.promise().outcome_.has_exception(); }
  // Finished with a value (not skipped, not failed).
  bool has_value() const noexcept { return frame_.promise().outcome_.has_value(); }
  // The finished value, left in place; precondition: finished and not failed.
  const value_type& peek() const noexcept { return frame_.promise().outcome_.value(); }

 private:
  explicit when_child(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  std::coroutine_handle<promise_type> frame_;
};

// The awaiter behind an awaitable: its operator co_await's result, or itself.
template <class A>
decltype(auto) awaiter_of(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}
template <class A>
using await_result_t = decltype(awaiter_of(std::declval<A>()).await_resume());

// Awaits an awaiter in place, wherever it lives. g++ 12 copies an awaiter that a co_await
// names through a reference, which operations (not copyable) cannot survive.
template <class A>
class await_in_place {
 public:
  explicit await_in_place(A& awaiter) noexcept : awaiter_(&awaiter) {}
  bool await_ready() { return awaiter_->await_ready(); }
  template <class Promise>
  decltype(auto) await_suspend(std::coroutine_handle<Promise> h) {
    return awaiter_->await_suspend(h);
  }
  decltype(auto) await_resume() { return awaiter_->await_resume(); }

 private:
  A* awaiter_;
};

// The child's body. Work is a task<T> (by value: the child owns it) or a reference to an
// awaitable that outlives the child.
template <class T, class Work>
when_child<T> run_child(Work parameter, [[maybe_unused]] when_group& group,
                        [[maybe_unused]] std::size_t index) {
  if constexpr (is_task_v<Work>) {
    // Awaiting the task hands it this frame's stop_token(): the child's own stop state. A
    // local, not the parameter: a frame torn down early destroys its locals before the
    // promise (which holds that stop state), its parameters after; the operations the task
    // waits on leave the stop state as they are destroyed, so they must go first.
    Work work = std::move(parameter);
    if constexpr (std::is_void_v<T>) {
      co_await std::move(work);
      co_return std::monostate{};
    } else {
      co_return co_await std::move(work);
    }
  } else {
    if (group.decided()) co_return skipped_child{};
    auto&& awaiter = awaiter_of(std::forward<Work>(parameter));
    await_in_place<std::remove_reference_t<decltype(awaiter)>> in_place(awaiter);
    if constexpr (std::is_void_v<T>) {
      co_await in_place;
      co_return std::monostate{};
    } else {
      co_return co_await in_place;
    }
  }
}

template <class... Ts, std::size_t... Is>
std::tuple<when_child<Ts>...> make_children(when_group& group, std::index_sequence<Is...>,
                                            task<Ts>... tasks) {
  return {run_child<Ts, task<Ts>>(std::move(tasks), group, Is)...};
}

template <class... Children>
std::array<std::coroutine_handle<>, sizeof...(Children)> frames_of(
    const std::tuple<Children...>& children) {
  return std::apply([](const auto&... c) {
    return std::array<std::coroutine_handle<>, sizeof...(Children)>{c.handle()...};
  }, children);
}

// True for a result that only says the operation was cancelled: it took nothing.
template <class V>
bool is_canceled_value(const V& v) noexcept {
  if constexpr (requires { v.has_value(); v.error(); }) {
    return !v.has_value() && v.error() == std::errc::operation_canceled;
  } else {
    return false;
  }
}

template <class Result, class Children, std::size_t... Is>
Result take_winner(Children& children, std::size_t winner, std::index_sequence<Is...>) {
  std::optional<Result> out;
  (void)((Is == winner &&
          (out.emplace(Result{winner,
                              decltype(Result::value)(std::in_place_index<Is>,
                                                      std::get<Is>(children).take()),
                              {}}),
           true)) ||
         ...);
  // Losers that completed in a race with the winner keep what they got.
  (void)((Is != winner && std::get<Is>(children).has_value() &&
          !is_canceled_value(std::get<Is>(children).peek()) &&
          (std::get<Is>(out->others).emplace(std::get<Is>(children).take()), true)) ||
         ...);
  return std::move(*out);
}

// The type a when_* argument yields: a task<T>'s T, or an awaitable's await_resume result.
// SFINAE-friendly, so that clang 14 (which forms the return type before checking the
// constraints) drops these overloads for a vector of tasks instead of failing.
template <class A, class = void>
struct awaited {};
template <class A>
struct awaited<A, std::void_t<await_result_t<A&&>>> {
  using type = await_result_t<A&&>;
};
template <class A>
using awaited_t = typename awaited<A>::type;

// How a child holds its argument: a task by value (the child owns it), anything else by
// reference (it lives in the caller's co_await expression).
template <class A>
using child_work_t =
    std::conditional_t<is_task_v<std::remove_cvref_t<A>>, std::remove_cvref_t<A>, A&&>;

template <class... As, std::size_t... Is>
std::tuple<when_child<awaited_t<As>>...> make_any_children(when_group& group,
                                                           std::index_sequence<Is...>,
                                                           As&&... work) {
  return {run_child<awaited_t<As>, child_work_t<As>>(std::forward<As>(work), group, Is)...};
}

template <class... As>
inline constexpr bool all_tasks_v = (is_task_v<std::remove_cvref_t<As>> && ...);

// A task, or something co_await accepts (directly or through operator co_await).
template <class A>
concept when_argument = is_task_v<std::remove_cvref_t<A>> || requires(A&& a) {
  awaiter_of(std::forward<A>(a)).await_ready();
  awaiter_of(std::forward<A>(a)).await_resume();
};

}  // namespace detail

template <class... Ts>
task<std::tuple<detail::when_value_t<Ts>...>> when_all(task<Ts>... tasks) {
  detail::when_group group(sizeof...(Ts), detail::when_group::mode::all);
  auto children = detail::make_children(group, std::index_sequence_for<Ts...>{},
                                        std::move(tasks)...);
  const auto frames = detail::frames_of(children);
  co_await group.run(frames);
  group.rethrow_first_failure();
  co_return std::apply([](auto&... c) {
    return std::tuple<detail::when_value_t<Ts>...>(c.take()...);
  }, children);
}

template <class T>
task<std::conditional_t<std::is_void_v<T>, void, std::vector<detail::when_value_t<T>>>> when_all(
    std::vector<task<T>> tasks) {
  detail::when_group group(tasks.size(), detail::when_group::mode::all);
  std::vector<detail::when_child<T>> children;
  std::vector<std::coroutine_handle<>> frames;
  children.reserve(tasks.size());
  frames.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    children.push_back(detail::run_child<T, task<T>>(std::move(tasks[i]), group, i));
    frames.push_back(children.back().handle());
  }
  co_await group.run(frames);
  group.rethrow_first_failure();
  if constexpr (!std::is_void_v<T>) {
    std::vector<detail::when_value_t<T>> out;
    out.reserve(children.size());
    for (auto& c : children) out.push_back(c.take());
    co_return out;
  }
}

template <class... Ts>
task<when_any_result<detail::when_value_t<Ts>...>> when_any(task<Ts>... tasks) {
  static_assert(sizeof...(Ts) > 0, "when_any of no tasks would never finish");
  detail::when_group group(sizeof...(Ts), detail::when_group::mode::first_wins);
  auto children = detail::make_children(group, std::index_sequence_for<Ts...>{},
                                        std::move(tasks)...);
  const auto frames = detail::frames_of(children);
  co_await group.run(frames);
  co_return detail::take_winner<when_any_result<detail::when_value_t<Ts>...>>(
      children, group.winner(), std::index_sequence_for<Ts...>{});
}

template <class T>
task<std::pair<std::size_t, detail::when_value_t<T>>> when_any(std::vector<task<T>> tasks) {
  if (tasks.empty()) throw std::invalid_argument("corio::when_any of no tasks");
  detail::when_group group(tasks.size(), detail::when_group::mode::first_wins);
  std::vector<detail::when_child<T>> children;
  std::vector<std::coroutine_handle<>> frames;
  children.reserve(tasks.size());
  frames.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    children.push_back(detail::run_child<T, task<T>>(std::move(tasks[i]), group, i));
    frames.push_back(children.back().handle());
  }
  co_await group.run(frames);
  const std::size_t winner = group.winner();
  co_return std::pair<std::size_t, detail::when_value_t<T>>(winner, children[winner].take());
}

// Select over anything: tasks and awaitables mixed (see the top of this file). Awaitables are
// held by reference: co_await the call in the same expression that makes them.
template <class... As>
  requires(sizeof...(As) > 0 && !detail::all_tasks_v<As...> &&
           (detail::when_argument<As> && ...))
task<std::tuple<detail::when_value_t<detail::awaited_t<As>>...>> when_all(As&&... work) {
  detail::when_group group(sizeof...(As), detail::when_group::mode::all);
  auto children = detail::make_any_children(group, std::index_sequence_for<As...>{},
                                            std::forward<As>(work)...);
  const auto frames = detail::frames_of(children);
  co_await group.run(frames);
  group.rethrow_first_failure();
  co_return std::apply([](auto&... c) {
    return std::tuple<detail::when_value_t<detail::awaited_t<As>>...>(c.take()...);
  }, children);
}

template <class... As>
  requires(sizeof...(As) > 0 && !detail::all_tasks_v<As...> &&
           (detail::when_argument<As> && ...))
task<when_any_result<detail::when_value_t<detail::awaited_t<As>>...>> when_any(As&&... work) {
  detail::when_group group(sizeof...(As), detail::when_group::mode::first_wins);
  auto children = detail::make_any_children(group, std::index_sequence_for<As...>{},
                                            std::forward<As>(work)...);
  const auto frames = detail::frames_of(children);
  co_await group.run(frames);
  co_return detail::take_winner<when_any_result<detail::when_value_t<detail::awaited_t<As>>...>>(
      children, group.winner(), std::index_sequence_for<As...>{});
}

}  // namespace corio
