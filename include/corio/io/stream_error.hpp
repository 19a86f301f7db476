// Errors of the stream helpers (buffered_reader, buffered_writer).
#pragma once

#include <system_error>

namespace corio {

enum class stream_error {
  line_too_long = 1,  // no delimiter within the limit; the bytes stay buffered
  incomplete_line,    // end of stream inside a line; the partial line stays buffered
};

const std::error_category& stream_category() noexcept;

inline std::error_code make_error_code(stream_error e) noexcept {
  return {static_cast<int>(e), stream_category()};
}

}  // namespace corio

template <>
struct std::is_error_code_enum<corio::stream_error> : std::true_type {};
