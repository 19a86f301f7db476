// Errors travel as std::error_code. result<T> is a small value-or-error shaped like C++23's
// std::expected<T, std::error_code>, so callers can move to the standard type later without
// rewriting call sites: has_value(), operator bool, value(), error(), operator*, operator->.
#pragma once

#include <cerrno>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace corio {

// Errors that corio itself reports; OS errors stay in std::system_category.
enum class error {
  backend_unavailable = 1,  // the requested reactor backend was not built or the kernel refuses it
  already_registered,       // the fd (or token) is registered already
  not_registered,           // remove/modify of something never registered
  invalid_token,            // a token from corio's reserved range
  loop_stopped,             // the loop was shut down
  channel_closed,           // every sender (or the receiver) of a channel is gone
  end_of_stream,            // the peer ended the stream before a read_exact was satisfied
  operation_aborted,        // the socket an operation waited on was closed under it
};

const std::error_category& corio_category() noexcept;

inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), corio_category()};
}

// The one place an errno value becomes an error_code.
inline std::error_code errno_code(int value) noexcept { return {value, std::system_category()}; }
inline std::error_code last_errno() noexcept { return errno_code(errno); }

// True for EAGAIN/EWOULDBLOCK: the operation would have blocked on a non-blocking fd.
inline bool would_block(std::error_code ec) noexcept {
  return ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::operation_would_block;
}

template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;

  template <class U = T>
    requires std::is_constructible_v<T, U&&>
  result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  result(std::error_code ec) : state_(std::in_place_index<1>, ec) {}              // NOLINT
  result(corio::error e) : result(make_error_code(e)) {}                               // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  T&& value() && { check(); return std::get<0>(std::move(state_)); }

  T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() noexcept { return std::get_if<0>(&state_); }
  const T* operator->() const noexcept { return std::get_if<0>(&state_); }

  std::error_code error() const noexcept {
    const auto* ec = std::get_if<1>(&state_);
    return ec ? *ec : std::error_code{};
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!has_value()) throw std::system_error(std::get<1>(state_));
  }
  std::variant<T, std::error_code> state_;
};

// [[nodiscard]] like result<T>: ignoring a cancelled `co_await sleep_for(1s);` in a loop spins
// at full CPU until the deadline, silently. `(void)` says the drop is deliberate.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  result() = default;
  result(std::error_code ec) noexcept  // NOLINT
      : value_(ec.value()), category_(ec ? &ec.category() : nullptr) {}
  result(corio::error e) : result(make_error_code(e)) {} // NOLINT

  bool has_value() const noexcept { return category_ == nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (!has_value()) throw std::system_error(error());
  }
  std::error_code error() const noexcept {
    return category_ ? std::error_code(value_, *category_) : std::error_code();
  }

 private:
  // The error_code in its parts: a default std::error_code calls std::system_category() (out of
  // line, in libstdc++), and a success is made on every completed operation.
  int value_ = 0;
  const std::error_category* category_ = nullptr;  // null: success
};

}  // namespace corio

template <>
struct std::is_error_code_enum<corio::error> : std::true_type {};
