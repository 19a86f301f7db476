#include "chat/line_splitter.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

void feed(chat::line_splitter& s, std::string_view text) {
  s.append(std::as_bytes(std::span(text.data(), text.size())));
}

std::vector<std::string> drain(chat::line_splitter& s) {
  std::vector<std::string> out;
  while (auto line = s.next()) out.emplace_back(*line);
  return out;
}

using lines = std::vector<std::string>;

TEST(line_splitter, accepts_lf_and_crlf) {
  chat::line_splitter s(64);
  feed(s, "one\ntwo\r\nthree\n");
  EXPECT_EQ(drain(s), (lines{"one", "two", "three"}));
  EXPECT_FALSE(s.rest());
}

TEST(line_splitter, joins_a_line_split_across_reads) {
  chat::line_splitter s(64);
  feed(s, "hel");
  EXPECT_EQ(drain(s), lines{});
  feed(s, "lo\r");
  EXPECT_EQ(drain(s), lines{});
  feed(s, "\nwor");
  EXPECT_EQ(drain(s), lines{"hello"});
  feed(s, "ld\n");
  EXPECT_EQ(drain(s), lines{"world"});
}

TEST(line_splitter, keeps_empty_lines) {
  chat::line_splitter s(64);
  feed(s, "\n\r\nx\n");
  EXPECT_EQ(drain(s), (lines{"", "", "x"}));
}

TEST(line_splitter, rest_is_the_unterminated_tail_at_end_of_stream) {
  chat::line_splitter s(64);
  feed(s, "a\nlast words\r");
  EXPECT_EQ(drain(s), lines{"a"});
  EXPECT_EQ(s.rest(), "last words");
  EXPECT_FALSE(s.rest());
}

TEST(line_splitter, a_line_of_exactly_the_limit_passes) {
  chat::line_splitter s(8);
  feed(s, "12345678\r\n12345678\n");
  EXPECT_EQ(drain(s), (lines{"12345678", "12345678"}));
  EXPECT_FALSE(s.too_long());
}

TEST(line_splitter, a_terminated_line_over_the_limit_is_too_long) {
  chat::line_splitter s(8);
  feed(s, "ok\n123456789\nafter\n");
  EXPECT_EQ(drain(s), lines{"ok"});
  EXPECT_TRUE(s.too_long());
  EXPECT_FALSE(s.next());
}

TEST(line_splitter, an_endless_line_is_too_long_before_its_end_arrives) {
  chat::line_splitter s(8);
  feed(s, "12345678\r");  // could still be a line of the limit
  EXPECT_EQ(drain(s), lines{});
  EXPECT_FALSE(s.too_long());
  for (int i = 0; i < 100; ++i) feed(s, "x");
  EXPECT_EQ(drain(s), lines{});
  EXPECT_TRUE(s.too_long());
}

TEST(line_splitter, an_unterminated_tail_over_the_limit_is_too_long) {
  chat::line_splitter s(4);
  feed(s, "12345");
  EXPECT_FALSE(s.next());
  EXPECT_FALSE(s.rest());
  EXPECT_TRUE(s.too_long());
}

TEST(line_splitter, many_lines_in_one_read) {
  chat::line_splitter s(16);
  std::string many;
  for (int i = 0; i < 500; ++i) many += "0123456789\n";
  for (int round = 0; round < 10; ++round) {
    feed(s, many);
    EXPECT_EQ(drain(s).size(), 500u);
  }
  EXPECT_FALSE(s.too_long());
}

}  // namespace
