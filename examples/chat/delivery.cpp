#include "delivery.hpp"

#include <system_error>
#include <utility>

#include <corio/sync/sync_error.hpp>
#include <corio/when.hpp>

namespace chat {

delivery::delivery(seat& place, corio::channel_receiver<message> replies)
    : place_(place), replies_(std::move(replies)) {}

delivery::status delivery::take(std::string& batch, std::size_t max) {
  while (batch.size() < max) {
    if (held_reply_) {
      batch += **held_reply_;
      reply_bytes_ += (*held_reply_)->size();
      held_reply_.reset();
      continue;
    }
    if (auto reply = replies_.try_recv()) {
      batch += **reply;
      reply_bytes_ += (*reply)->size();
      continue;
    } else if (reply.error() == corio::error::channel_closed) {
      replies_closed_ = true;
    }
    if (held_line_) {
      deliver(*held_line_, batch);
      held_line_.reset();
      continue;
    }
    if (!take_room_line(batch)) break;
  }
  if (lagged_) return status::lagged;
  // The session closes the outbox only after leaving the room, so every line for it is in
  // the ring by then.
  if (replies_closed_ && !held_reply_ && !held_line_ && !room_line_due()) return status::finished;
  return status::open;
}

corio::task<bool> delivery::wait() {
  if (replies_closed_) {
    if (!room_line_due()) co_return true;  // take() reports finished
    auto line = co_await place_.feed_->recv();
    if (!line && line.error() == std::errc::operation_canceled) co_return false;
    if (line) held_line_ = std::move(*line);
    else if (line.error() == corio::sync_error::lagged) lagged_ = true;
    co_return true;
  }
  if (!place_.feed_ || !room_line_due()) {
    auto reply = co_await replies_.recv();
    if (reply) {
      held_reply_ = std::move(*reply);
    } else if (reply.error() == corio::error::channel_closed) {
      replies_closed_ = true;
    } else {
      co_return false;  // cancelled
    }
    co_return true;
  }
  // Whichever comes first; the other, if it came too, is kept: nothing is lost in a select.
  auto first = co_await corio::when_any(replies_.recv(), place_.feed_->recv());
  auto on_reply = [this](corio::result<message>& r) {
    if (r) held_reply_ = std::move(*r);
    else if (r.error() == corio::error::channel_closed) replies_closed_ = true;
  };
  auto on_line = [this](corio::broadcast_result<room_line>& r) {
    if (r) held_line_ = std::move(*r);
    else if (r.error() == corio::sync_error::lagged) lagged_ = true;
  };
  if (first.index == 0) {
    auto& r = std::get<0>(first.value);
    if (!r && r.error() == std::errc::operation_canceled) co_return false;
    on_reply(r);
  } else {
    auto& r = std::get<1>(first.value);
    if (!r && r.error() == std::errc::operation_canceled) co_return false;
    on_line(r);
  }
  if (auto& other = std::get<0>(first.others)) on_reply(*other);
  if (auto& other = std::get<1>(first.others)) on_line(*other);
  co_return true;
}

void delivery::written() noexcept {
  place_.written(reply_bytes_);
  place_.room_done_.fetch_add(line_bytes_, std::memory_order_release);
  reply_bytes_ = line_bytes_ = 0;
}

// Whether the next room line in the ring would still be for this seat.
bool delivery::room_line_due() const noexcept {
  if (!place_.feed_) return false;
  const std::uint64_t next = place_.first_line_ + place_.taken_.load(std::memory_order_relaxed);
  return next < place_.last_line_.load(std::memory_order_acquire);
}

void delivery::deliver(const room_line& line, std::string& batch) {
  // A line wait() received after the seat left (sent after the room let it go) is not for it.
  if (!room_line_due()) return;
  place_.taken_.fetch_add(1, std::memory_order_release);
  if (line.from == &place_) {
    place_.room_done_.fetch_add(line.text->size(), std::memory_order_release);
    return;
  }
  batch += *line.text;
  line_bytes_ += line.text->size();
}

bool delivery::take_room_line(std::string& batch) {
  if (!room_line_due()) return false;
  auto line = place_.feed_->try_recv();
  if (line) {
    deliver(*line, batch);
    return true;
  }
  if (line.error() == corio::sync_error::lagged) lagged_ = true;
  return false;
}

}  // namespace chat
