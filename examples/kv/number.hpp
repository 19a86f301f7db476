// Integers as Redis reads and writes them. Redis accepts only the canonical decimal form
// (no sign '+', no leading zeros, no spaces, "-0" refused), so that a value INCR accepts
// prints back byte for byte; lengths and counts in the protocol use the same rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kv {

std::optional<std::int64_t> parse_int64(std::string_view text) noexcept;

// Lowercase ASCII compare, for command names and options (bytes >= 0x80 never match a letter).
bool equals_ignore_case(std::string_view a, std::string_view lower) noexcept;

}  // namespace kv
