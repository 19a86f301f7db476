// What a finished coroutine leaves behind: nothing yet, a value (or, for T&, the referent's
// address), or an exception. One type for every promise and join state (task, spawned tasks'
// join state, when_all/when_any children, task_scope children), so that "how is a result kept
// and taken" has one answer.
#pragma once

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

namespace corio::detail {

template <class T>
class outcome {
 public:
  using stored = std::conditional_t<std::is_void_v<T>, std::monostate,
                                    std::conditional_t<std::is_reference_v<T>,
                                                       std::remove_reference_t<T>*, T>>;

  // void: no argument; T&: the referent (its address is kept); T: what constructs a T.
  template <class... U>
  void set_value(U&&... v) {
    if constexpr (std::is_reference_v<T>) {
      state_.template emplace<1>(std::addressof(v)...);
    } else {
      state_.template emplace<1>(std::forward<U>(v)...);
    }
  }
  void set_exception(std::exception_ptr e) noexcept { state_.template emplace<2>(std::move(e)); }

  bool empty() const noexcept { return state_.index() == 0; }
  bool has_value() const noexcept { return state_.index() == 1; }
  bool has_exception() const noexcept { return state_.index() == 2; }
  const std::exception_ptr& exception() const noexcept { return std::get<2>(state_); }
  // Precondition: has_value(). A look without taking it.
  const stored& value() const noexcept { return *std::get_if<1>(&state_); }

  // Precondition: not empty. Rethrows the exception, or moves the value out (a result is
  // taken once).
  T take() {
    if (state_.index() == 2) std::rethrow_exception(std::get<2>(state_));
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (std::is_reference_v<T>) {
      return *std::get<1>(state_);
    } else {
      return std::move(std::get<1>(state_));
    }
  }

 private:
  std::variant<std::monostate, stored, std::exception_ptr> state_;
};

}  // namespace corio::detail
