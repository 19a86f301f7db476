// A spawned task's stop state, and the reference to it that every frame of the task carries.
//
// std::stop_source allocates its shared state and makes each waiting operation register a
// std::stop_callback (a lock, a list link, and the token's reference count, twice per co_await).
// A spawned task waits on one operation at a time, so its stop state is one word in the task's
// join state (frame pool memory): the operation it waits on, plus two bits.
//   - arm / disarm (the task's thread, once per real suspension): one uncontended CAS each;
//   - request_stop (any thread): sets `requested` and, while the `locked` bit holds the word,
//     asks the armed operation to cancel; disarm waits for that to finish, so the operation is
//     never touched after its await_resume (what std::stop_callback's destructor guarantees).
// The children of when_all/when_any/timeout and of a task_scope each get a task_stop of their
// own, in their frames, which the combinator stops (when.hpp's forwarding_wait carries the
// parent's stop to them), so none of them makes a std::stop_source either. Code that needs a
// real std::stop_token (corio::sim's sockets) gets one made on first demand, once per
// task_stop; the stop request reaches it too.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <stop_token>

namespace corio::detail {

class operation;

class task_stop {
 public:
  task_stop() noexcept = default;
  // A frame torn down while suspended (a crash in corio::sim, an executor destroyed with tasks
  // in it) may leave an operation armed here that lives on a little longer: when_any and
  // timeout children await an awaiter in their parent's frame. The operation is told to forget
  // this state, so its own destructor does not reach into freed memory.
  ~task_stop() {
    if (word_.load(std::memory_order_relaxed) > (requested_bit | locked_bit)) release_armed();
  }
  task_stop(const task_stop&) = delete;
  task_stop& operator=(const task_stop&) = delete;

  // Any thread. True for the call that made the request (std::stop_source's contract).
  bool request_stop() noexcept;
  bool stop_requested() const noexcept {
    return (word_.load(std::memory_order_acquire) & requested_bit) != 0;
  }

  enum class arm_result : std::uint8_t { armed, stopped, occupied };
  // The task's thread: `op` is what a stop request cancels until disarm(op). `occupied` when
  // another operation of the task is armed (not expected; the caller falls back to token()).
  arm_result arm(operation& op) noexcept {
    std::uintptr_t expected = 0;
    if (word_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&op),
                                      std::memory_order_acq_rel, std::memory_order_acquire)) {
      return arm_result::armed;
    }
    return (expected & requested_bit) != 0 ? arm_result::stopped : arm_result::occupied;
  }
  void disarm(operation& op) noexcept {
    std::uintptr_t expected = reinterpret_cast<std::uintptr_t>(&op);
    if (word_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return;
    }
    wait_unlocked();  // a stop request got there first: let it finish with `op`
  }

  // The task's thread: a std::stop_token that the stop request also reaches (made once).
  std::stop_token token();

 private:
  static constexpr std::uintptr_t requested_bit = 1;
  static constexpr std::uintptr_t locked_bit = 2;
  void wait_unlocked() const noexcept;
  void release_armed() noexcept;
  std::uintptr_t lock() noexcept;  // returns the word as it was (without the lock bit)
  void unlock() noexcept { word_.fetch_and(~locked_bit, std::memory_order_release); }

  std::atomic<std::uintptr_t> word_{0};  // armed operation | locked | requested
  std::optional<std::stop_source> source_;
};

// What a frame knows about its stop: a task_stop (a spawned task's, or a combinator child's),
// or a std::stop_token (corio::sim's frames), or nothing. Converts to a std::stop_token for
// code written against one.
class stop_ref {
 public:
  stop_ref() noexcept = default;
  explicit stop_ref(task_stop* t) noexcept : task_(t) {}
  stop_ref(std::stop_token t) noexcept : token_(std::move(t)) {}  // NOLINT: implicit on purpose

  bool stop_requested() const noexcept {
    return task_ ? task_->stop_requested() : token_.stop_requested();
  }
  bool stop_possible() const noexcept { return task_ != nullptr || token_.stop_possible(); }
  task_stop* task() const noexcept { return task_; }
  const std::stop_token& token() const noexcept { return token_; }
  operator std::stop_token() const { return task_ ? task_->token() : token_; }  // NOLINT

 private:
  task_stop* task_ = nullptr;
  std::stop_token token_;
};

}  // namespace corio::detail
