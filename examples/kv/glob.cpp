#include "glob.hpp"

#include <cstddef>
#include <utility>

namespace kv {

namespace {

unsigned char fold(char c, glob_case mode) noexcept {
  const auto u = static_cast<unsigned char>(c);
  if (mode == glob_case::insensitive && u >= 'A' && u <= 'Z') return u + ('a' - 'A');
  return u;
}

struct step {
  bool matched;
  std::size_t next;  // where the pattern element after this one starts
};

// The bracket class starting just after '[' at `at`, tried against byte `c`.
step match_class(std::string_view p, std::size_t at, unsigned char c, glob_case mode) noexcept {
  const bool negated = at < p.size() && p[at] == '^';
  if (negated) ++at;
  bool matched = false;
  while (at < p.size() && p[at] != ']') {
    if (p[at] == '\\' && at + 1 < p.size()) {
      matched |= fold(p[at + 1], mode) == c;
      at += 2;
    } else if (at + 2 < p.size() && p[at + 1] == '-') {
      auto low = fold(p[at], mode);
      auto high = fold(p[at + 2], mode);
      if (low > high) std::swap(low, high);
      matched |= c >= low && c <= high;
      at += 3;
    } else {
      matched |= fold(p[at], mode) == c;
      ++at;
    }
  }
  if (at < p.size()) ++at;  // the ']'; an unterminated class just ends with the pattern
  return {matched != negated, at};
}

// The element at `at` (not a '*') against byte `c`.
step match_one(std::string_view p, std::size_t at, char c, glob_case mode) noexcept {
  const unsigned char folded = fold(c, mode);
  switch (p[at]) {
    case '?':
      return {true, at + 1};
    case '[':
      return match_class(p, at + 1, folded, mode);
    case '\\':
      if (at + 1 < p.size()) return {fold(p[at + 1], mode) == folded, at + 2};
      break;  // a trailing backslash is itself
    default:
      break;
  }
  return {fold(p[at], mode) == folded, at + 1};
}

std::size_t skip_stars(std::string_view p, std::size_t at) noexcept {
  while (at < p.size() && p[at] == '*') ++at;
  return at;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, glob_case mode) noexcept {
  constexpr std::size_t none = std::string_view::npos;
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t resume_p = none;  // just after the last star seen
  std::size_t resume_t = 0;     // where that star's run currently ends in the text
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      p = skip_stars(pattern, p);
      if (p == pattern.size()) return true;  // a trailing star takes the rest
      resume_p = p;
      resume_t = t;
      continue;
    }
    if (p < pattern.size()) {
      const step s = match_one(pattern, p, text[t], mode);
      if (s.matched) {
        p = s.next;
        ++t;
        continue;
      }
    }
    if (resume_p == none) return false;
    // The last star takes one more byte. resume_t only grows, and between two retries the
    // pattern is walked at most once: (pattern + 1) x (text + 1) steps in all.
    p = resume_p;
    t = ++resume_t;
  }
  return skip_stars(pattern, p) == pattern.size();
}

}  // namespace kv
