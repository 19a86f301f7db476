// What one client's lines do: the nickname handshake, the commands, and what it says to the
// room. No I/O: replies go to the client's own outbox, which its writer task drains, so one
// task alone writes to the socket. A client whose outbox is full is dropped, like in the room.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "room.hpp"

namespace chat {

inline constexpr std::size_t max_line = 1024;

class session {
 public:
  session(room& r, std::shared_ptr<seat> place, outbox self);
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session() { leave(); }

  // The first line a client sees.
  void greet();
  // One line from the client, without its terminator.
  void handle(std::string_view line);
  // The client broke the line limit: it is told, and the conversation ends.
  void line_too_long();
  // False once the conversation is over (/quit, dropped, a broken limit).
  bool open() const noexcept { return open_; }
  // Leaves the room and lets go of the outbox, so the writer ends once it sent what is queued.
  void leave();

  const std::string& nick() const noexcept { return nick_; }

 private:
  void reply(std::string_view text);
  void choose_nick(std::string_view nick);
  void change_nick(std::string_view nick);

  room& room_;
  std::shared_ptr<seat> place_;
  outbox self_;
  std::string nick_;  // empty until the handshake succeeds
  bool open_ = true;
};

}  // namespace chat
