// Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): `*` any run, `?` one byte, `[abc]`,
// `[^abc]`, `[a-z]` (ends swapped if reversed), `\x` a literal x (also inside brackets). An
// unterminated `[` class runs to the end of the pattern; `[]` matches nothing.
//
// Bounded work: at most (pattern length + 1) x (text length + 1) steps, whatever the pattern.
// A backtracking matcher is exponential in the number of stars: 63 stars and an `x` froze a
// worker for good (issue 17). Every element other than `*` consumes exactly one byte, so on a
// mismatch only the last star has to take one more byte: the earlier stars never need to.
#pragma once

#include <string_view>

namespace kv {

enum class glob_case { sensitive, insensitive };

bool glob_match(std::string_view pattern, std::string_view text,
                glob_case mode = glob_case::sensitive) noexcept;

}  // namespace kv
