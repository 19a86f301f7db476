#include "driver/clock.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using corio::detail::manual_clock;
using corio::detail::tick;
using corio::detail::time_source;
using time_point = std::chrono::steady_clock::time_point;

// An origin far from zero, so that arithmetic which forgets the origin shows up.
constexpr time_point start{std::chrono::hours(1000) + 123'456ns};

TEST(manual_clock, reads_its_start_and_moves_only_when_told) {
  manual_clock c(start);
  EXPECT_EQ(c.now(), start);
  EXPECT_EQ(c.now(), start);
  c.advance(1500us);
  EXPECT_EQ(c.now(), start + 1500us);
  c.set(start + 7s);
  EXPECT_EQ(c.now(), start + 7s);
  c.set(start - 1s);  // a test may move it backwards; time_source must cope
  EXPECT_EQ(c.now(), start - 1s);
}

TEST(manual_clock, defaults_to_the_epoch) { EXPECT_EQ(manual_clock{}.now(), time_point{}); }

TEST(manual_clock, concurrent_advances_all_count) {
  manual_clock c(start);
  constexpr int threads = 4;
  constexpr int steps = 10'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&c] {
      for (int i = 0; i < steps; ++i) c.advance(1ns);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(c.now(), start + std::chrono::nanoseconds(threads * steps));
}

TEST(steady_clock_source, is_one_instance_that_never_goes_backwards) {
  const auto& a = corio::detail::steady_clock_source();
  EXPECT_EQ(&a, &corio::detail::steady_clock_source());
  const time_point first = a.now();
  const time_point second = a.now();
  EXPECT_LE(first, second);
}

TEST(time_source, reads_the_clock_it_was_given_and_starts_at_tick_zero) {
  manual_clock c(start);
  const time_source ts(c);
  EXPECT_EQ(&ts.source(), &c);
  EXPECT_EQ(ts.origin(), start);
  EXPECT_EQ(ts.now(), start);
  EXPECT_EQ(ts.now_tick(), 0u);
  c.advance(42ms);
  EXPECT_EQ(ts.now(), start + 42ms);
  EXPECT_EQ(ts.now_tick(), 42u);
}

TEST(time_source, default_source_is_the_steady_clock) {
  const time_source ts;
  EXPECT_EQ(&ts.source(), &corio::detail::steady_clock_source());
  EXPECT_LE(ts.origin(), ts.now());
}

TEST(time_source, now_rounds_down_so_a_tick_passes_only_when_all_of_it_has) {
  manual_clock c(start);
  const time_source ts(c);
  c.advance(999'999ns);
  EXPECT_EQ(ts.now_tick(), 0u);
  c.advance(1ns);
  EXPECT_EQ(ts.now_tick(), 1u);
  c.advance(999'999ns);
  EXPECT_EQ(ts.now_tick(), 1u);
}

TEST(time_source, deadlines_round_up_so_a_timer_never_fires_early) {
  manual_clock c(start);
  const time_source ts(c);
  EXPECT_EQ(ts.deadline_tick(start), 0u);
  EXPECT_EQ(ts.deadline_tick(start + 1ns), 1u);
  EXPECT_EQ(ts.deadline_tick(start + 1ms), 1u);
  EXPECT_EQ(ts.deadline_tick(start + 1ms + 1ns), 2u);
  EXPECT_EQ(ts.deadline_tick(start + 2ms - 1ns), 2u);
}

TEST(time_source, instants_before_the_origin_are_tick_zero) {
  manual_clock c(start);
  const time_source ts(c);
  EXPECT_EQ(ts.deadline_tick(start - 5s), 0u);
  c.set(start - 5s);
  EXPECT_EQ(ts.now_tick(), 0u);
}

TEST(time_source, sub_millisecond_sleep_becomes_one_tick_never_zero) {
  manual_clock c(start);
  const time_source ts(c);
  EXPECT_EQ(ts.deadline_after(300us), 1u);
  EXPECT_EQ(ts.deadline_after(1ns), 1u);
  // Wherever inside a tick "now" falls, a positive sleep lands strictly after now_tick(),
  // so a poll loop computing its timeout from it never spins on a zero timeout.
  for (auto offset : {0ns, 1ns, 500'000ns, 999'999ns}) {
    c.set(start + 10ms + offset);
    EXPECT_GT(ts.deadline_after(300us), ts.now_tick()) << offset.count();
    EXPECT_GE(ts.instant(ts.deadline_after(300us)), ts.now() + 300us) << offset.count();
  }
}

TEST(time_source, negative_or_zero_duration_means_now) {
  manual_clock c(start + 5ms);
  const time_source ts(c);
  c.advance(3ms);
  EXPECT_EQ(ts.deadline_after(-1h), 3u);
  EXPECT_EQ(ts.deadline_after(0ns), 3u);
  c.advance(1ns);  // mid-tick: "now" as a deadline still rounds up
  EXPECT_EQ(ts.deadline_after(-1ns), 4u);
}

TEST(time_source, a_deadline_tick_never_begins_before_the_requested_instant) {
  manual_clock c(start);
  const time_source ts(c);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10'000; ++i) {
    const auto t = start + std::chrono::nanoseconds(rng() % (std::uint64_t{1} << 50));
    const tick d = ts.deadline_tick(t);
    EXPECT_GE(ts.instant(d), t);
    EXPECT_LT(ts.instant(d) - t, 1ms);  // and is the earliest tick that does
  }
}

TEST(time_source, instant_is_where_the_tick_begins) {
  manual_clock c(start);
  const time_source ts(c);
  EXPECT_EQ(ts.instant(0), start);
  EXPECT_EQ(ts.instant(1500), start + 1500ms);
  c.advance(1500ms);
  EXPECT_EQ(ts.now_tick(), 1500u);
  EXPECT_EQ(ts.deadline_tick(ts.instant(1500)), 1500u);
}

TEST(time_source, until_counts_down_to_zero_and_stays_there) {
  manual_clock c(start);
  const time_source ts(c);
  EXPECT_EQ(ts.until(5), 5ms);
  c.advance(4500us);
  EXPECT_EQ(ts.until(5), 500us);
  c.advance(500us);
  EXPECT_EQ(ts.until(5), 0ns);
  c.advance(1h);
  EXPECT_EQ(ts.until(5), 0ns);
}

TEST(time_source, huge_values_saturate_instead_of_wrapping) {
  manual_clock c(start);
  const time_source ts(c);
  const tick far = ts.deadline_after(std::chrono::nanoseconds::max());
  EXPECT_EQ(far, ts.deadline_tick(time_point::max()));
  EXPECT_GT(far, tick{1} << 40);  // ~35 years: "far", not wrapped to a small number
  EXPECT_EQ(ts.instant(~tick{0}), time_point::max());
  EXPECT_EQ(ts.until(~tick{0}), time_point::max() - ts.now());
  EXPECT_GT(ts.until(far), 24h * 365 * 100);
}

TEST(time_source, works_with_an_origin_before_the_epoch) {
  manual_clock c(time_point{} - 10s);
  const time_source ts(c);
  c.advance(2500us);
  EXPECT_EQ(ts.now_tick(), 2u);
  EXPECT_EQ(ts.deadline_after(1ms), 4u);
  EXPECT_EQ(ts.until(4), 1500us);
  EXPECT_EQ(ts.instant(~tick{0}), time_point::max());
}

}  // namespace
