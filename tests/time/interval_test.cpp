// corio::interval and its missed-tick policy ("skip"). Assertions use the returned scheduled
// times and the clock read around each await, never wall-clock upper bounds: a loaded machine
// may deliver a tick late (that is just another missed tick), but never early and never a burst.
#include <corio/time.hpp>

#include <corio/runtime.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

using namespace std::chrono_literals;
using corio::task;
using clock_type = std::chrono::steady_clock;

class interval_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  corio::runtime_options options() const { return {GetParam()}; }
};

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

// The tick's position on the grid; the scheduled time must sit exactly on it.
std::int64_t index_of(const corio::interval& iv, clock_type::time_point t) {
  const auto offset = t - iv.start();
  EXPECT_EQ(offset % iv.period(), std::chrono::nanoseconds::zero());
  return offset / iv.period();
}

// Blocks the thread (not the task: nothing else runs meanwhile) until `until`.
void busy_wait(clock_type::time_point until) {
  while (clock_type::now() < until) {
  }
}

TEST_P(interval_test, first_tick_is_at_once_and_ticks_follow_the_grid) {
  auto body = []() -> task<> {
    corio::interval iv(10ms);
    std::int64_t last = -1;
    for (int i = 0; i < 5; ++i) {
      auto t = co_await iv.tick();
      EXPECT_TRUE(t);
      if (!t) co_return;
      EXPECT_GE(clock_type::now(), *t);  // never early
      const std::int64_t k = index_of(iv, *t);
      if (i == 0) {
        EXPECT_EQ(k, 0);
      }
      EXPECT_GT(k, last);
      last = k;
    }
  };
  corio::block_on(body(), options());
}

TEST_P(interval_test, falling_behind_gives_one_late_tick_then_realigns_without_a_burst) {
  auto body = []() -> task<> {
    constexpr auto period = 20ms;
    corio::interval iv(period);
    auto t0 = co_await iv.tick();
    auto t1 = co_await iv.tick();
    EXPECT_TRUE(t0 && t1);
    if (!t0 || !t1) co_return;
    const std::int64_t k1 = index_of(iv, *t1);
    EXPECT_GE(k1, 1);

    // The consumer falls behind: the thread is busy for 4.5 periods past tick k1, so the
    // ticks k1+1 .. k1+4 all come due meanwhile.
    busy_wait(*t1 + 4 * period + period / 2);

    // One tick at once, the earliest missed one (k1 + 1), although it is late.
    const auto before_late = clock_type::now();
    auto late = co_await iv.tick();
    const auto after_late = clock_type::now();
    EXPECT_TRUE(late);
    if (!late) co_return;
    EXPECT_EQ(index_of(iv, *late), k1 + 1);
    EXPECT_LT(*late + period, before_late);  // it was more than a period late

    // Then the schedule resumes at the first grid point after the late tick: the missed ones
    // in between are skipped, and this tick waits for its time instead of firing at once.
    auto next = co_await iv.tick();
    EXPECT_TRUE(next);
    if (!next) co_return;
    const std::int64_t k = index_of(iv, *next);
    EXPECT_GE(k, k1 + 5);                   // k1+2 .. k1+4 (at least) were skipped
    EXPECT_GT(*next, before_late);          // realigned after the late tick: no catch-up burst
    EXPECT_LE(*next - period, after_late);  // ... to the first grid point after it
    EXPECT_GE(clock_type::now(), *next);    // and not early
  };
  corio::block_on(body(), options());
}

TEST_P(interval_test, a_cancelled_tick_consumes_nothing) {
  auto body = []() -> task<> {
    corio::interval iv(30s);
    auto t0 = co_await iv.tick();
    EXPECT_TRUE(t0);
    const auto next = iv.next();
    auto r = co_await corio::timeout(5ms, iv.tick());
    EXPECT_EQ(r.error(), std::errc::timed_out);
    EXPECT_EQ(iv.next(), next);
  };
  corio::block_on(body(), options());
}

TEST_P(interval_test, a_start_in_the_future_waits_for_it) {
  auto body = []() -> task<> {
    const auto start = clock_type::now() + 15ms;
    corio::interval iv(start, 1h);
    auto t = co_await iv.tick();
    EXPECT_TRUE(t);
    if (t) {
      EXPECT_EQ(*t, start);
    }
    EXPECT_GE(clock_type::now(), start);
  };
  corio::block_on(body(), options());
}

TEST(interval, a_period_that_is_not_positive_is_refused) {
  EXPECT_THROW(corio::interval(0ms), std::invalid_argument);
  EXPECT_THROW(corio::interval(-1ms), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(backends, interval_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
