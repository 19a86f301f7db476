// The chat room: who is here (nickname → the connection's outbox) and the lines everyone sees.
// Shared by every worker thread, so everything here is under one mutex; channel senders may be
// used from any thread, so a line reaches a client on another worker without a hop.
//
// Broadcasting never waits: each line goes to each member with try_send, and a member whose
// bounded outbox is full (its client does not read fast enough) is dropped there and then,
// rather than holding up everyone else. The dropped connection learns it through its seat.
#pragma once

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

// One connection's place, shared by the room and the connection's tasks. Dropping it ends the
// connection at once (its tasks wait on dropped()).
class seat {
 public:
  // From any thread; the first reason stays.
  void drop(std::string_view why);
  corio::manual_reset_event& dropped() noexcept { return dropped_; }
  // Empty until dropped.
  std::string reason() const;

 private:
  mutable std::mutex lock_;
  std::string reason_;
  corio::manual_reset_event dropped_;
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

  mutable std::mutex lock_;
  members members_;
  bool closing_ = false;
};

}  // namespace chat
