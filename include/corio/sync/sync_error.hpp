// Errors of the sync primitives beyond corio::error's channel_closed.
#pragma once

#include <system_error>
#include <type_traits>

namespace corio {

enum class sync_error {
  lagged = 1,  // a broadcast receiver fell behind: values it had not seen were overwritten
  closed,      // the semaphore (or mutex) was closed: no permit will come
};

const std::error_category& sync_category() noexcept;

inline std::error_code make_error_code(sync_error e) noexcept {
  return {static_cast<int>(e), sync_category()};
}

}  // namespace corio

template <>
struct std::is_error_code_enum<corio::sync_error> : std::true_type {};
