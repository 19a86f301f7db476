// What one member's writer sends it, in order: its own replies (its outbox), and the room's
// lines from the moment it joined until it left, without the lines it said itself. The writer
// takes what is there into one batch, writes it, and says so; the room counts the bytes.
//
//   chat::delivery out(*place, std::move(inbox));
//   for (;;) {
//     batch.clear();
//     const auto s = out.take(batch, max);    // never waits
//     if (batch.empty()) { if (s != delivery::status::open || !co_await out.wait()) break; }
//     else { write(batch); out.written(); if (s != delivery::status::open) break; }
//   }
//
// Replies come first each time, so the welcome, queued before the member's first room line
// exists, is always the first line it gets after the handshake. Used on the connection's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <corio/sync/channel.hpp>
#include <corio/task.hpp>

#include "room.hpp"

namespace chat {

class delivery {
 public:
  delivery(seat& place, corio::channel_receiver<message> replies);

  enum class status {
    open,      // more may come
    finished,  // the outbox closed (the session ended) and no room line is left for it
    lagged,    // the room's ring overwrote lines it had not taken (the room drops it first)
  };
  // Appends what is there now to `batch`, until it holds `max` bytes or nothing is left.
  status take(std::string& batch, std::size_t max);
  // Waits until a reply or a room line is there, or the outbox closed; false when cancelled.
  corio::task<bool> wait();
  // What take() appended since the last call was written to the socket.
  void written() noexcept;

 private:
  bool room_line_due() const noexcept;
  // One room line: appended, or skipped (its own).
  void deliver(const room_line& line, std::string& batch);
  bool take_room_line(std::string& batch);

  seat& place_;
  corio::channel_receiver<message> replies_;
  std::optional<message> held_reply_;  // what wait() received
  std::optional<room_line> held_line_;
  bool replies_closed_ = false;
  bool lagged_ = false;
  std::size_t reply_bytes_ = 0;  // in the batch, not yet written
  std::size_t line_bytes_ = 0;
};

}  // namespace chat
