#include "session.hpp"

#include <utility>

#include <fmt/core.h>

#include "protocol.hpp"

namespace chat {

namespace {

constexpr std::string_view ask_nick = "* your nickname?";
constexpr std::string_view bad_nick =
    "! bad nickname: use 1-32 characters of A-Z a-z 0-9 _ -";

}  // namespace

session::session(room& r, std::shared_ptr<seat> place, outbox self)
    : room_(r), place_(std::move(place)), self_(std::move(self)) {}

void session::greet() { reply("* welcome to corio chat; your nickname?"); }

void session::handle(std::string_view line) {
  if (!open_) return;
  const command c = parse_command(line);
  using kind = command::kind;
  if (c.what == kind::quit) {
    reply("* bye");
    leave();
    return;
  }
  if (nick_.empty()) {
    // Until it has a name, a line is a nickname (or /nick NAME, which means the same).
    if (c.what == kind::text || c.what == kind::nick) {
      choose_nick(c.what == kind::nick ? c.arg : line);
    } else if (c.what != kind::empty) {
      reply("! choose a nickname first");
      reply(ask_nick);
    }
    return;
  }
  switch (c.what) {
    case kind::empty:
      break;
    case kind::text:
      room_.say(*place_, nick_, printable(c.arg));
      break;
    case kind::nick:
      change_nick(c.arg);
      break;
    case kind::who:
      reply(fmt::format("* here: {}", room_.who()));
      break;
    case kind::quit:
      break;  // handled above
    case kind::unknown:
      reply(fmt::format("! unknown command: {}; try /who, /nick NEW, /quit",
                        printable(c.arg.substr(0, c.arg.find(' ')))));
      break;
  }
}

void session::line_too_long() {
  if (!open_) return;
  reply(fmt::format("! line too long (limit {} bytes)", max_line));
  leave();
}

void session::leave() {
  if (!nick_.empty()) room_.leave(*place_, nick_);
  self_.reset();
  open_ = false;
}

void session::reply(std::string_view text) {
  if (!open_) return;
  // Our own replies follow the room's rule (room.hpp): counted until written.
  switch (place_->send(self_, make_line(text))) {
    case seat::send_result::queued:
      return;
    case seat::send_result::not_reading:
      place_->drop(not_reading);
      break;
    case seat::send_result::gone:
      place_->drop(connection_lost);
      break;
  }
  leave();
}

void session::choose_nick(std::string_view nick) {
  if (!valid_nick(nick)) {
    reply(bad_nick);
    reply(ask_nick);
    return;
  }
  const std::string welcome =
      fmt::format("* hello {}; commands: /who, /nick NEW, /quit", nick);
  if (!room_.join(nick, place_, self_, welcome)) {
    reply(fmt::format("! nickname taken: {}", nick));
    reply(ask_nick);
    return;
  }
  nick_ = nick;
}

void session::change_nick(std::string_view nick) {
  if (!valid_nick(nick)) {
    reply(bad_nick);
    return;
  }
  switch (room_.rename(*place_, nick_, nick)) {
    case room::rename_result::renamed:
      nick_ = nick;
      reply(fmt::format("* you are now {}", nick));
      break;
    case room::rename_result::taken:
      reply(fmt::format("! nickname taken: {}", nick));
      break;
    case room::rename_result::not_here:
      leave();  // dropped meanwhile: its connection is ending
      break;
  }
}

}  // namespace chat
