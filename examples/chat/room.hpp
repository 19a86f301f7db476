// The chat room: who is here (nickname → the connection's outbox) and the lines everyone sees.
// Shared by every worker thread, so everything here is under one mutex; channel senders may be
// used from any thread, so a line reaches a client on another worker without a hop.
//
// Broadcasting never waits: each line goes to each member with try_send, and a member that is
// not reading is dropped there and then, rather than holding up everyone else; the others are
// told ("* nick dropped (not reading)"), and the dropped connection learns it through its seat.
//
// "Not reading" is counted in bytes queued for the member and not yet written to its socket,
// not in lines: one read of a client's burst (hundreds of short lines in one write) is
// broadcast before any writer task runs, and a line count meant for a slow reader dropped
// every member who was reading (issue 17). The byte budget is far above what one read can
// produce for a member, so only a client whose writer truly cannot keep up reaches it.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <corio/sync/channel.hpp>
#include <corio/sync/event.hpp>

namespace chat {

// One line for a client, with its CRLF; a broadcast shares one copy among all recipients.
using message = std::shared_ptr<const std::string>;
using outbox = corio::channel_sender<message>;

message make_line(std::string_view text);

// Why a seat was dropped, as its client and the room are told.
inline constexpr std::string_view not_reading = "not reading";
inline constexpr std::string_view connection_lost = "connection lost";

// Bytes queued for one member and not yet written to its socket, beyond which it is dropped.
// A client that reads keeps this near zero; 256 KiB is about 256 lines of the longest kind.
inline constexpr std::size_t unwritten_limit = 256 * 1024;

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
  // Queues `line` on this seat's outbox `out`, counting its bytes as unwritten; not_reading
  // when they would pass the limit or the outbox is full, gone when its writer ended. Any
  // thread. Nothing is dropped here: the caller decides.
  send_result send(outbox& out, const message& line);
  // The writer wrote `bytes` of what send() queued. Any thread.
  void written(std::size_t bytes) noexcept;
  std::size_t unwritten() const noexcept { return unwritten_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex lock_;
  std::string reason_;
  corio::manual_reset_event dropped_;
  const std::size_t limit_;
  std::atomic<std::size_t> unwritten_{0};
};

class room {
 public:
  // Seats `who` under `nick`, sends it `welcome` (before any other line can reach it), and
  // tells the others. False, changing nothing, when the nickname is taken.
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
    outbox out;
  };
  using members = std::map<std::string, member, std::less<>>;

  bool holds(const seat& who, std::string_view nick) const;
  void broadcast(const seat* except, const message& line);
  void send_round(const seat* except, const message& line,
                  std::vector<std::pair<std::string, bool>>& dropped);
  static message departure(std::string_view nick, bool not_reading);

  mutable std::mutex lock_;
  members members_;
  bool closing_ = false;
};

}  // namespace chat
