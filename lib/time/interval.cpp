// corio::interval: the schedule and its missed-tick policy ("skip", see include/corio/time.hpp).
#include <corio/time.hpp>

#include <algorithm>
#include <stdexcept>

namespace corio {

// Starts by the executor's clock, so that an interval in corio::sim runs on virtual time.
interval::interval(std::chrono::nanoseconds period) : interval(detail::clock_now(), period) {}

interval::interval(clock::time_point start, std::chrono::nanoseconds period)
    : start_(start), period_(period) {
  if (period <= std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument("corio::interval: the period must be positive");
  }
}

interval::clock::time_point interval::deliver(clock::time_point now) noexcept {
  const clock::time_point scheduled = next();
  // The next tick is the first grid point after `now`, and at least the one after this: on
  // time that is next_ + 1; after falling m periods behind, the m missed points are skipped.
  std::int64_t after_now = 0;
  if (now >= start_) after_now = (now - start_) / period_ + 1;
  next_ = std::max(next_ + 1, after_now);
  return scheduled;
}

}  // namespace corio
