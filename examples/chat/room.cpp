#include "room.hpp"

#include <fmt/core.h>

namespace chat {

message make_line(std::string_view text) {
  std::string line;
  line.reserve(text.size() + 2);
  line.append(text).append("\r\n");
  return std::make_shared<const std::string>(std::move(line));
}

void seat::drop(std::string_view why) {
  {
    std::lock_guard guard(lock_);
    if (reason_.empty()) reason_ = why.empty() ? "dropped" : why;
  }
  dropped_.set();
}

std::string seat::reason() const {
  std::lock_guard guard(lock_);
  return reason_;
}

seat::send_result seat::send(outbox& out, const message& line) {
  const std::size_t n = line->size();
  if (unwritten_.fetch_add(n, std::memory_order_relaxed) + n > limit_) {
    written(n);
    return send_result::not_reading;
  }
  auto sent = out.try_send(line);
  if (sent) return send_result::queued;
  written(n);
  // Full (the line-count backstop of the outbox): not reading. Closed: its writer ended.
  return sent.error() == corio::error::channel_closed ? send_result::gone
                                                      : send_result::not_reading;
}

void seat::written(std::size_t bytes) noexcept {
  unwritten_.fetch_sub(bytes, std::memory_order_relaxed);
}

room::room(std::size_t ring)
    : ring_(ring ? ring : 1), feed_(corio::make_broadcast<room_line>(ring_)) {}

bool room::join(std::string_view nick, const std::shared_ptr<seat>& who, outbox out,
                std::string_view welcome) {
  std::lock_guard guard(lock_);
  if (members_.contains(nick)) return false;
  // A welcome that does not fit is a client that already stopped reading; its next line
  // will find no room either and drop it.
  (void)who->send(out, make_line(welcome));
  broadcast(nullptr, make_line(fmt::format("* {} joined", nick)));
  // Subscribed after its own news: its room lines start here.
  who->feed_.emplace(feed_.first.subscribe());
  who->first_line_ = lines_;
  who->first_byte_ = bytes_;
  members_.emplace(std::string(nick), member{who});
  return true;
}

room::rename_result room::rename(const seat& who, std::string_view from, std::string_view to) {
  std::lock_guard guard(lock_);
  if (!holds(who, from)) return rename_result::not_here;
  if (from == to) return rename_result::renamed;
  if (members_.contains(to)) return rename_result::taken;
  auto node = members_.extract(members_.find(from));
  node.key() = std::string(to);
  members_.insert(std::move(node));
  broadcast(&who, make_line(fmt::format("* {} is now {}", from, to)));
  return rename_result::renamed;
}

void room::say(const seat& who, std::string_view nick, std::string_view text) {
  std::lock_guard guard(lock_);
  if (holds(who, nick)) broadcast(&who, make_line(fmt::format("<{}> {}", nick, text)));
}

void room::leave(const seat& who, std::string_view nick) {
  std::lock_guard guard(lock_);
  if (!holds(who, nick)) return;
  part(*members_.find(nick)->second.place);
  members_.erase(members_.find(nick));
  // Its writer may have given up on it (nothing written for a long time): say so.
  if (!closing_) broadcast(nullptr, departure(nick, who.reason() == not_reading));
}

std::string room::who() const {
  std::lock_guard guard(lock_);
  std::string names;
  for (const auto& [nick, m] : members_) {
    if (!names.empty()) names += ", ";
    names += nick;
  }
  return names;
}

std::size_t room::size() const {
  std::lock_guard guard(lock_);
  return members_.size();
}

void room::close() {
  std::lock_guard guard(lock_);
  closing_ = true;
}

bool room::closing() const {
  std::lock_guard guard(lock_);
  return closing_;
}

// Under lock_. A nickname freed by a drop may be taken again at once, so the seat must match.
bool room::holds(const seat& who, std::string_view nick) const {
  const auto it = members_.find(nick);
  return it != members_.end() && it->second.place.get() == &who;
}

// Under lock_. Telling the others that someone was dropped may drop more of them; every round
// after the first removes a member, so this ends.
void room::broadcast(const seat* from, const message& line) {
  std::vector<std::string> dropped;
  send_round(from, line, dropped);
  for (std::size_t i = 0; i < dropped.size() && !closing_; ++i) {
    send_round(nullptr, departure(dropped[i], true), dropped);
  }
}

message room::departure(std::string_view nick, bool not_reading) {
  return make_line(not_reading ? fmt::format("* {} dropped (not reading)", nick)
                               : fmt::format("* {} left", nick));
}

// Under lock_. One send for everyone; then whoever is too far behind goes.
void room::send_round(const seat* from, const message& line, std::vector<std::string>& dropped) {
  // result<size_t>, the receivers reached: never channel_closed, the room keeps one.
  (void)feed_.first.send(room_line{line, from});
  ++lines_;
  bytes_ += line->size();
  for (auto it = members_.begin(); it != members_.end();) {
    seat& s = *it->second.place;
    if (!behind(s)) {
      ++it;
      continue;
    }
    s.drop(not_reading);
    part(s);
    dropped.push_back(it->first);
    it = members_.erase(it);
  }
}

// Under lock_. Too many bytes unwritten, or the ring is about to overwrite a line it has not
// taken. The writer's counts only grow, so a stale read errs towards keeping the member.
bool room::behind(const seat& s) const noexcept {
  const std::uint64_t taken = s.taken_.load(std::memory_order_acquire);
  const std::uint64_t done = s.room_done_.load(std::memory_order_acquire);
  const std::uint64_t unread = lines_ - s.first_line_ - taken;
  const std::uint64_t unwritten = bytes_ - s.first_byte_ - done + s.unwritten();
  return unread >= ring_ || unwritten > s.limit();
}

// Under lock_. The lines sent from now on are not for `s`.
void room::part(seat& s) noexcept { s.last_line_.store(lines_, std::memory_order_release); }

}  // namespace chat
