#include "driver/clock.hpp"

#include <limits>
#include <type_traits>

namespace corio::detail {
namespace {

using time_point = std::chrono::steady_clock::time_point;
using rep = std::chrono::steady_clock::rep;

// The arithmetic below works on raw counts, so it needs to know what one count is.
static_assert(std::is_same_v<std::chrono::steady_clock::duration, std::chrono::nanoseconds>);

constexpr std::uint64_t nanos_per_tick = 1'000'000;

// Distance from `from` to `to` (to > from). Unsigned, because the signed difference of two
// valid time_points can overflow when the origin is negative (a manual clock set that way).
std::uint64_t distance(time_point from, time_point to) noexcept {
  return static_cast<std::uint64_t>(to.time_since_epoch().count()) -
         static_cast<std::uint64_t>(from.time_since_epoch().count());
}

class steady_clock_impl final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
};

}  // namespace

const clock& steady_clock_source() noexcept {
  static const steady_clock_impl instance;
  return instance;
}

manual_clock::manual_clock(time_point start) : nanos_(start.time_since_epoch().count()) {}

time_point manual_clock::now() const noexcept {
  return time_point(std::chrono::nanoseconds(nanos_.load()));
}

void manual_clock::advance(std::chrono::nanoseconds d) noexcept { nanos_.fetch_add(d.count()); }

void manual_clock::set(time_point t) noexcept { nanos_.store(t.time_since_epoch().count()); }

time_source::time_source(const clock& c) : clock_(&c), origin_(c.now()) {}

time_point time_source::now() const noexcept { return clock_->now(); }

tick time_source::now_tick() const noexcept {
  const time_point t = now();
  return t <= origin_ ? 0 : distance(origin_, t) / nanos_per_tick;
}

tick time_source::deadline_tick(time_point t) const noexcept {
  if (t <= origin_) return 0;
  const std::uint64_t d = distance(origin_, t);
  // Written as quotient + carry: `(d + nanos_per_tick - 1) / nanos_per_tick` overflows near max.
  return d / nanos_per_tick + (d % nanos_per_tick != 0 ? 1 : 0);
}

tick time_source::deadline_after(std::chrono::nanoseconds d) const noexcept {
  const time_point n = now();
  if (d.count() < 0) d = std::chrono::nanoseconds::zero();
  if (static_cast<std::uint64_t>(d.count()) > distance(n, time_point::max())) {
    return deadline_tick(time_point::max());
  }
  return deadline_tick(n + d);
}

time_point time_source::instant(tick t) const noexcept {
  const std::uint64_t headroom = distance(origin_, time_point::max());
  if (t > headroom / nanos_per_tick) return time_point::max();
  // t * nanos_per_tick <= headroom, so the sum stays within rep (done unsigned, then back).
  const std::uint64_t count =
      static_cast<std::uint64_t>(origin_.time_since_epoch().count()) + t * nanos_per_tick;
  return time_point(std::chrono::nanoseconds(static_cast<rep>(count)));
}

std::chrono::nanoseconds time_source::until(tick t) const noexcept {
  const time_point target = instant(t);
  const time_point n = now();
  if (target <= n) return std::chrono::nanoseconds::zero();
  const std::uint64_t d = distance(n, target);
  constexpr auto max_count = static_cast<std::uint64_t>(std::numeric_limits<rep>::max());
  return std::chrono::nanoseconds(static_cast<rep>(d > max_count ? max_count : d));
}

const clock& time_source::source() const noexcept { return *clock_; }

time_point time_source::origin() const noexcept { return origin_; }

}  // namespace corio::detail
