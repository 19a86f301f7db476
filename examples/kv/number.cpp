#include "number.hpp"

#include <limits>

namespace kv {

std::optional<std::int64_t> parse_int64(std::string_view text) noexcept {
  // 20 characters hold every int64 ("-9223372036854775808"); longer cannot be canonical.
  if (text.empty() || text.size() > 20) return std::nullopt;
  if (text == "0") return 0;
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.front() < '1' || text.front() > '9') return std::nullopt;
  // Accumulate as unsigned so that the magnitude of INT64_MIN fits.
  std::uint64_t v = 0;
  constexpr std::uint64_t max_magnitude = std::uint64_t{1} << 63;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (max_magnitude - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  if (negative) {
    // -(2^63) is INT64_MIN; writing it as 0 - v in unsigned arithmetic avoids the UB of
    // negating INT64_MIN.
    return static_cast<std::int64_t>(0 - v);
  }
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

bool equals_ignore_case(std::string_view a, std::string_view lower) noexcept {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace kv
