// The chat room: who is here (nickname → seat) and the lines everyone sees. Shared by every
// worker thread, so everything here is under one mutex.
//
// The room's lines go out on one corio::broadcast: a line is sent once, into a ring every
// member's writer reads at its own pace (chat/delivery.hpp), wherever it runs. A member's own
// replies (welcome, /who, errors) go to its outbox, a channel of its own.
//
// Broadcasting never waits, and a member that is not reading is dropped there and then rather
// than holding up everyone else; the others are told ("* nick dropped (not reading)"), and the
// dropped connection learns it through its seat. "Not reading" is counted in bytes sent for the
// member and not yet written to its socket, not in lines: one read of a client's burst
// (hundreds of short lines in one write) is broadcast before any writer task runs, and a line
// count meant for a slow reader dropped every member who was reading (issue 17). The byte
// budget is far above what one read can produce for a member, so only a client whose writer
// truly cannot keep up reaches it. The ring's size is only a backstop for tiny lines: a member
// is dropped before the ring would overwrite a line it has not read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <optional>
#include <vector>

#include <corio/sync/broadcast.hpp>
#include <corio/sync/channel.hpp>
#include <corio/sync/event.hpp>

namespace chat {

// One line for a client, with its CRLF; a broadcast shares one copy among all recipients.
using message = std::shared_ptr<const std::string>;
// A member's own replies.
using outbox = corio::channel_sender<message>;

class seat;
// A line of the room, and who said it (its writer skips its own lines).
struct room_line {
  message text;
  const seat* from = nullptr;
};
using room_feed = corio::broadcast_receiver<room_line>;

message make_line(std::string_view text);

// Why a seat was dropped, as its client and the room are told.
inline constexpr std::string_view not_reading = "not reading";
inline constexpr std::string_view connection_lost = "connection lost";

// Bytes sent for one member and not yet written to its socket, beyond which it is dropped.
// A client that reads keeps this near zero; 256 KiB is about 256 lines of the longest kind.
inline constexpr std::size_t unwritten_limit = 256 * 1024;
// Room lines kept for members that have not read them yet: the backstop for tiny lines. The
// ring keeps the newest ones alive whether read or not, so the room's lines take at most this
// many (about 17 MiB of the longest kind), however many members there are.
inline constexpr std::size_t ring_lines = 16384;

// One connection's place, shared by the room and the connection's tasks. Dropping it ends the
// connection at once (its tasks wait on dropped()).
class seat {
 public:
  explicit seat(std::size_t limit = unwritten_limit) noexcept : limit_(limit) {}

  // From any thread; the first reason stays.
  void drop(std::string_view why);
  corio::manual_reset_event& dropped() noexcept { return dropped_; }
  // Empty until dropped.
  std::string reason() const;

  enum class send_result { queued, not_reading, gone };
  // Queues a reply `line` on this seat's outbox `out`, counting its bytes as unwritten;
  // not_reading when they would pass the limit or the outbox is full, gone when its writer
  // ended. Any thread. Nothing is dropped here: the caller decides.
  send_result send(outbox& out, const message& line);
  // The writer wrote `bytes` of what send() queued. Any thread.
  void written(std::size_t bytes) noexcept;
  // Reply bytes not yet written (room lines are counted by the room).
  std::size_t unwritten() const noexcept { return unwritten_.load(std::memory_order_relaxed); }
  std::size_t limit() const noexcept { return limit_; }

 private:
  friend class room;
  friend class delivery;
  static constexpr std::uint64_t still_here = std::numeric_limits<std::uint64_t>::max();

  mutable std::mutex lock_;
  std::string reason_;
  corio::manual_reset_event dropped_;
  const std::size_t limit_;
  std::atomic<std::size_t> unwritten_{0};

  // The room's lines for this seat. Set by room::join, under the room's lock, on the thread
  // that runs the connection (its reader joins), so its writer reads them without a lock.
  std::optional<room_feed> feed_;
  std::uint64_t first_line_ = 0;  // the room's line and byte counts when it joined
  std::uint64_t first_byte_ = 0;
  // By the writer, read by the room: lines taken off the feed, and the bytes of those written
  // to the socket or skipped (its own lines).
  std::atomic<std::uint64_t> taken_{0};
  std::atomic<std::uint64_t> room_done_{0};
  // The room's line count when the seat left: the lines from there on are not for it.
  std::atomic<std::uint64_t> last_line_{still_here};
};

class room {
 public:
  explicit room(std::size_t ring = ring_lines);

  // Seats `who` under `nick`, sends `welcome` to its outbox `out` (before any room line can
  // reach it), tells the others, and subscribes it to the room's lines. False, changing
  // nothing, when the nickname is taken. On the thread that runs `who`'s connection.
  bool join(std::string_view nick, const std::shared_ptr<seat>& who, outbox out,
            std::string_view welcome);

  enum class rename_result { renamed, taken, not_here };
  rename_result rename(const seat& who, std::string_view from, std::string_view to);

  // "<nick> text" to everyone but `who`; nothing if `who` no longer holds `nick`.
  void say(const seat& who, std::string_view nick, std::string_view text);

  // Removes `who` (if it still holds `nick`) and tells the others.
  void leave(const seat& who, std::string_view nick);

  // "alice, bob": the nicknames in order.
  std::string who() const;
  std::size_t size() const;

  // The server is stopping: departures are no longer announced.
  void close();
  bool closing() const;

 private:
  struct member {
    std::shared_ptr<seat> place;
  };
  using members = std::map<std::string, member, std::less<>>;

  bool holds(const seat& who, std::string_view nick) const;
  void broadcast(const seat* from, const message& line);
  void send_round(const seat* from, const message& line, std::vector<std::string>& dropped);
  bool behind(const seat& s) const noexcept;
  void part(seat& s) noexcept;
  static message departure(std::string_view nick, bool not_reading);

  mutable std::mutex lock_;
  members members_;
  bool closing_ = false;
  const std::size_t ring_;
  // The receiver is never read: with it every send lands in the ring (a broadcast without
  // receivers drops what is sent), so the counts below match the ring's positions.
  std::pair<corio::broadcast_sender<room_line>, room_feed> feed_;
  std::uint64_t lines_ = 0;  // lines sent so far
  std::uint64_t bytes_ = 0;  // and their bytes
};

}  // namespace chat
