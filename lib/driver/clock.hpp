#pragma once
// The one place time is read and rounded.
//
// Everything above the driver counts time in `tick`s: whole milliseconds since a time_source's
// origin. Rounding is asymmetric on purpose (tokio runtime/time/source.rs does the same):
//   - a deadline rounds UP (deadline_tick), so a timer never fires early and a 0.3 ms sleep
//     becomes one tick instead of a busy poll;
//   - the present rounds DOWN (now_tick), so a tick counts as passed only once all of it has.
// Arithmetic saturates instead of overflowing: a deadline of years (or time_point::max()) is
// simply "very far", never a wrapped-around "already due".

#include <atomic>
#include <chrono>
#include <cstdint>

namespace corio::detail {

using tick = std::uint64_t;

class clock {
 public:
  virtual ~clock() = default;
  virtual std::chrono::steady_clock::time_point now() const noexcept = 0;
};

// Reads std::chrono::steady_clock; lives for the whole program.
const clock& steady_clock_source() noexcept;

// A clock that moves only when told to: tests (and later a simulated backend) drive time by
// hand. Readable and settable from any thread.
class manual_clock final : public clock {
 public:
  explicit manual_clock(std::chrono::steady_clock::time_point start = {});

  std::chrono::steady_clock::time_point now() const noexcept override;
  void advance(std::chrono::nanoseconds d) noexcept;
  void set(std::chrono::steady_clock::time_point t) noexcept;

 private:
  std::atomic<std::chrono::steady_clock::rep> nanos_;
};

class time_source {
 public:
  // The origin is read once, here: tick 0 is the moment the source was made.
  explicit time_source(const clock& c = steady_clock_source());

  std::chrono::steady_clock::time_point now() const noexcept;
  // Floor; 0 while the clock reads before the origin (a manual clock set backwards).
  tick now_tick() const noexcept;
  // Ceil; instants at or before the origin map to tick 0.
  tick deadline_tick(std::chrono::steady_clock::time_point t) const noexcept;
  // deadline_tick(now() + d); a negative d counts as zero, a huge d saturates.
  tick deadline_after(std::chrono::nanoseconds d) const noexcept;
  // How long a poll may block to wake at tick t: 0 once t has passed.
  std::chrono::nanoseconds until(tick t) const noexcept;
  // The instant tick t begins; saturates at time_point::max().
  std::chrono::steady_clock::time_point instant(tick t) const noexcept;
  const clock& source() const noexcept;
  std::chrono::steady_clock::time_point origin() const noexcept;

 private:
  const clock* clock_;
  std::chrono::steady_clock::time_point origin_;
};

}  // namespace corio::detail
