#include "glob.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace {

using kv::glob_case;
using kv::glob_match;

TEST(glob, stars_and_question_marks) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("h*llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "heeeello"));
  EXPECT_FALSE(glob_match("h*llo", "hellx"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(glob_match("**a**", "bab"));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("a", ""));
  EXPECT_FALSE(glob_match("?", ""));
}

TEST(glob, bracket_classes) {
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_TRUE(glob_match("h[b-a]llo", "hallo")) << "reversed ends are swapped, as in Redis";
  EXPECT_FALSE(glob_match("h[a-b]llo", "hcllo"));
  EXPECT_TRUE(glob_match("[\\]]", "]"));
  EXPECT_TRUE(glob_match("[\\-]", "-"));
  EXPECT_FALSE(glob_match("[]", "a")) << "an empty class matches nothing";
  EXPECT_TRUE(glob_match("a[bc", "ab")) << "an unterminated class ends with the pattern";
  EXPECT_FALSE(glob_match("a[bc", "abc"));
}

TEST(glob, escapes_are_literal) {
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("a\\?", "a?"));
  EXPECT_FALSE(glob_match("a\\?", "ab"));
  EXPECT_TRUE(glob_match("a\\", "a\\")) << "a trailing backslash is itself";
}

TEST(glob, case_folding_only_when_asked) {
  EXPECT_FALSE(glob_match("SAVE", "save"));
  EXPECT_TRUE(glob_match("SAVE", "save", glob_case::insensitive));
  EXPECT_TRUE(glob_match("APPEND*", "appendonly", glob_case::insensitive));
  EXPECT_TRUE(glob_match("[A-C]x", "bx", glob_case::insensitive));
  EXPECT_TRUE(glob_match("binary\xff", "binary\xff"));
}

// Inputs that make a backtracking matcher exponential (the old one took 3 s at 24 stars and
// years at 63). Each is (pattern x text) steps here: microseconds. The bound is wide enough
// for a sanitizer build on a loaded machine and still far below what the blow-up costs.
TEST(glob, adversarial_patterns_finish_promptly) {
  const auto start = std::chrono::steady_clock::now();
  const std::string stars(63, '*');
  EXPECT_FALSE(glob_match(stars + "x", "appendonly", glob_case::insensitive));
  EXPECT_TRUE(glob_match(stars + "y", "appendonly", glob_case::insensitive));

  std::string star_a;  // "*a*a*a...*b" against "aaaa...": every split of the a's is tried
  for (int i = 0; i < 40; ++i) star_a += "*a";
  EXPECT_FALSE(glob_match(star_a + "*b", std::string(4000, 'a')));
  EXPECT_TRUE(glob_match(star_a + "*", std::string(4000, 'a')));

  std::string qs;  // "?*?*?*...x": the same with single-byte wildcards
  for (int i = 0; i < 100; ++i) qs += "?*";
  EXPECT_FALSE(glob_match(qs + "x", std::string(5000, 'y')));

  std::string classes;  // classes between stars are rescanned per retry: still bounded
  for (int i = 0; i < 50; ++i) classes += "*[a-z]";
  EXPECT_FALSE(glob_match(classes + "*1", std::string(3000, 'q')));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2));
}

}  // namespace
