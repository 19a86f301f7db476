// What a chat client's line means, and the rules on nicknames. Pure functions: the protocol
// itself is described at the top of chat_server.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chat {

inline constexpr std::size_t max_nick = 32;

// 1-32 characters of [A-Za-z0-9_-]: printable everywhere, no spaces to confuse "<nick> text".
bool valid_nick(std::string_view nick) noexcept;

struct command {
  enum class kind {
    empty,    // a blank line: ignored
    text,     // to be said to the room (arg: the text; "//x" says "/x")
    nick,     // /nick NEW (arg: NEW, possibly empty or invalid)
    who,      // /who
    quit,     // /quit
    unknown,  // any other /word (arg: the line)
  };
  kind what;
  std::string_view arg;
};

command parse_command(std::string_view line) noexcept;

// The text as other people's terminals will show it: control characters (which could move
// their cursor or clear their screen) become '?'.
std::string printable(std::string_view text);

}  // namespace chat
