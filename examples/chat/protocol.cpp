#include "protocol.hpp"

#include <algorithm>

namespace chat {

namespace {

bool nick_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_nick(std::string_view nick) noexcept {
  return !nick.empty() && nick.size() <= max_nick && std::all_of(nick.begin(), nick.end(), nick_char);
}

command parse_command(std::string_view line) noexcept {
  using kind = command::kind;
  if (trim(line).empty()) return {kind::empty, {}};
  if (line.front() != '/') return {kind::text, line};
  if (line.starts_with("//")) return {kind::text, line.substr(1)};
  const std::string_view rest = line.substr(1);
  const std::size_t space = rest.find_first_of(" \t");
  const std::string_view word = rest.substr(0, space);
  const std::string_view arg = space == std::string_view::npos ? std::string_view{}
                                                                : trim(rest.substr(space));
  if (word == "nick") return {kind::nick, arg};
  if (word == "who") return {kind::who, {}};
  if (word == "quit") return {kind::quit, {}};
  return {kind::unknown, line};
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) c = '?';
  }
  return out;
}

}  // namespace chat
