#include "chat/protocol.hpp"

#include <string>

#include <gtest/gtest.h>

namespace {

using kind = chat::command::kind;

TEST(protocol, nicknames_are_1_to_32_safe_characters) {
  EXPECT_TRUE(chat::valid_nick("a"));
  EXPECT_TRUE(chat::valid_nick("Alice_the-2nd"));
  EXPECT_TRUE(chat::valid_nick(std::string(32, 'n')));
  EXPECT_FALSE(chat::valid_nick(""));
  EXPECT_FALSE(chat::valid_nick(std::string(33, 'n')));
  EXPECT_FALSE(chat::valid_nick("two words"));
  EXPECT_FALSE(chat::valid_nick("<bob>"));
  EXPECT_FALSE(chat::valid_nick("caf\xc3\xa9"));
  EXPECT_FALSE(chat::valid_nick("tab\t"));
}

TEST(protocol, commands_and_text) {
  EXPECT_EQ(chat::parse_command("hello there").what, kind::text);
  EXPECT_EQ(chat::parse_command("hello there").arg, "hello there");
  EXPECT_EQ(chat::parse_command("/who").what, kind::who);
  EXPECT_EQ(chat::parse_command("/quit").what, kind::quit);
  EXPECT_EQ(chat::parse_command("/nick  bob ").what, kind::nick);
  EXPECT_EQ(chat::parse_command("/nick  bob ").arg, "bob");
  EXPECT_EQ(chat::parse_command("/nick").arg, "");
  EXPECT_EQ(chat::parse_command("/dance now").what, kind::unknown);
  EXPECT_EQ(chat::parse_command("/whois").what, kind::unknown);
}

TEST(protocol, blank_lines_are_empty) {
  EXPECT_EQ(chat::parse_command("").what, kind::empty);
  EXPECT_EQ(chat::parse_command(" \t ").what, kind::empty);
}

TEST(protocol, a_double_slash_says_a_slash) {
  const auto c = chat::parse_command("//who is there");
  EXPECT_EQ(c.what, kind::text);
  EXPECT_EQ(c.arg, "/who is there");
}

TEST(protocol, control_characters_are_not_passed_on) {
  EXPECT_EQ(chat::printable("a\x1b[2Jb\tc\x7f"), "a?[2Jb\tc?");
  EXPECT_EQ(chat::printable("caf\xc3\xa9"), "caf\xc3\xa9");
}

}  // namespace
