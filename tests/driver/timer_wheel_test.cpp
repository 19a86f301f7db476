#include "driver/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "driver/clock.hpp"

namespace {

using corio::detail::tick;
using corio::detail::timer_node;
using corio::detail::timer_wheel;

struct test_timer : timer_node {
  int id = 0;
};

constexpr tick ms_per_year = 365ull * 24 * 3600 * 1000;

std::vector<int> drain(timer_wheel& w, tick now) {
  std::vector<int> fired;
  while (timer_node* n = w.poll(now)) {
    EXPECT_FALSE(n->linked);
    EXPECT_LE(n->deadline, now) << "fired early";
    fired.push_back(static_cast<test_timer*>(n)->id);
  }
  return fired;
}

std::vector<test_timer> make_timers(std::size_t count) {
  std::vector<test_timer> timers(count);
  for (std::size_t i = 0; i < count; ++i) timers[i].id = static_cast<int>(i);
  return timers;
}

TEST(timer_wheel, starts_empty_at_the_given_tick) {
  timer_wheel w(1234);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.elapsed(), 1234u);
  EXPECT_EQ(w.next_expiration(), std::nullopt);
  EXPECT_EQ(w.poll(99'999), nullptr);
  EXPECT_EQ(w.elapsed(), 99'999u);
}

TEST(timer_wheel, fires_at_the_deadline_and_not_a_tick_before) {
  for (tick deadline : {tick{1}, tick{63}, tick{64}, tick{65}, tick{4095}, tick{4096}, tick{300'000}}) {
    timer_wheel w;
    test_timer t;
    w.insert(t, deadline);
    EXPECT_TRUE(t.linked);
    EXPECT_EQ(w.size(), 1u);
    EXPECT_EQ(w.poll(deadline - 1), nullptr) << deadline;
    EXPECT_EQ(w.poll(deadline), &t) << deadline;
    EXPECT_FALSE(t.linked);
    EXPECT_TRUE(w.empty());
  }
}

TEST(timer_wheel, fires_in_deadline_order_across_levels) {
  const std::vector<tick> deadlines = {5'000'000, 3, 70, 4100, 300'000, 20'000'000, 64,
                                       63, 1, 262'144, 16'777'216, 4096, 2};
  auto timers = make_timers(deadlines.size());
  timer_wheel w;
  for (std::size_t i = 0; i < deadlines.size(); ++i) w.insert(timers[i], deadlines[i]);
  std::vector<int> expected(deadlines.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int>(i);
  std::sort(expected.begin(), expected.end(), [&](int a, int b) { return deadlines[a] < deadlines[b]; });
  EXPECT_EQ(drain(w, 30'000'000), expected);
}

TEST(timer_wheel, equal_deadlines_fire_in_insertion_order) {
  auto timers = make_timers(8);
  timer_wheel w;
  for (int i : {3, 1, 7, 0, 5, 2, 6, 4}) w.insert(timers[static_cast<std::size_t>(i)], 10);
  EXPECT_EQ(drain(w, 10), (std::vector<int>{3, 1, 7, 0, 5, 2, 6, 4}));
}

TEST(timer_wheel, equal_deadlines_fire_in_insertion_order_across_a_cascade) {
  // Timer 0 starts at level 1 and is cascaded down; timer 1, inserted later with the same
  // deadline, goes straight to level 0. Insertion order must still win.
  auto timers = make_timers(3);
  timer_wheel w;
  w.insert(timers[0], 100);
  EXPECT_EQ(w.poll(70), nullptr);  // reaches level 1's slot [64, 128): timer 0 moves down
  w.insert(timers[1], 100);
  w.insert(timers[2], 100);
  EXPECT_EQ(drain(w, 100), (std::vector<int>{0, 1, 2}));
}

TEST(timer_wheel, equal_deadlines_inserted_at_every_level_fire_in_insertion_order) {
  // The same deadline inserted while time approaches it, so the earliest inserts start at
  // level 4 and the latest at level 0; some share a higher slot, some are cascaded first.
  constexpr tick deadline = 20'000'000;
  auto timers = make_timers(40);
  timer_wheel w;
  tick now = 0;
  for (std::size_t i = 0; i < timers.size(); ++i) {
    w.insert(timers[i], deadline);
    now += (deadline - now) / 2;
    EXPECT_TRUE(drain(w, now).empty());
  }
  std::vector<int> expected(timers.size());
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<int>(i);
  EXPECT_EQ(drain(w, deadline), expected);
}

TEST(timer_wheel, equal_far_deadlines_fire_in_insertion_order_after_re_parking) {
  // Timer 0 is beyond the top level's reach and parked; by the time timer 1 arrives with the
  // same deadline it is within reach and goes straight to its slot. When timer 0 is re-parked
  // it lands in that same slot behind timer 1, and must still fire first.
  constexpr tick deadline = 3 * ms_per_year;
  auto timers = make_timers(2);
  timer_wheel w(5);
  w.insert(timers[0], deadline);
  EXPECT_TRUE(drain(w, tick{1} << 35).empty());
  w.insert(timers[1], deadline);
  EXPECT_TRUE(drain(w, deadline - 1).empty());
  EXPECT_EQ(drain(w, deadline), (std::vector<int>{0, 1}));
}

TEST(timer_wheel, remove_of_a_pending_node_stops_it_firing) {
  auto timers = make_timers(3);
  timer_wheel w;
  w.insert(timers[0], 5);
  w.insert(timers[1], 5000);  // a higher level
  w.insert(timers[2], 5);
  EXPECT_TRUE(w.remove(timers[0]));
  EXPECT_TRUE(w.remove(timers[1]));
  EXPECT_FALSE(timers[0].linked);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(drain(w, 10'000), std::vector<int>{2});
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.next_expiration(), std::nullopt);
}

TEST(timer_wheel, remove_of_a_fired_or_never_inserted_node_is_harmless) {
  auto timers = make_timers(3);
  timer_wheel w;
  EXPECT_FALSE(w.remove(timers[0]));  // never inserted
  w.insert(timers[1], 1);
  w.insert(timers[2], 2);
  EXPECT_EQ(w.poll(1), &timers[1]);
  EXPECT_FALSE(w.remove(timers[1]));  // already fired
  EXPECT_TRUE(w.remove(timers[2]));
  EXPECT_FALSE(w.remove(timers[2]));  // already removed
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.poll(100), nullptr);
}

TEST(timer_wheel, reinsert_after_firing_fires_again) {
  test_timer t;
  timer_wheel w;
  w.insert(t, 10);
  EXPECT_EQ(w.poll(10), &t);
  w.insert(t, 20);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.poll(19), nullptr);
  EXPECT_EQ(w.poll(20), &t);
  EXPECT_EQ(w.poll(1000), nullptr);
}

TEST(timer_wheel, reinsert_while_pending_moves_the_deadline_and_the_order) {
  auto timers = make_timers(3);
  timer_wheel w;
  w.insert(timers[0], 50);
  w.insert(timers[1], 50);
  w.insert(timers[2], 10'000);
  w.insert(timers[0], 50);      // same deadline, now last in line
  w.insert(timers[2], 20);      // earlier, from a higher level down to level 0
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(drain(w, 49), std::vector<int>{2});
  w.insert(timers[1], 70'000);  // later, from level 0 up
  EXPECT_EQ(drain(w, 69'999), std::vector<int>{0});
  EXPECT_EQ(drain(w, 70'000), std::vector<int>{1});
}

TEST(timer_wheel, nodes_inserted_while_firing_fire_in_order_within_the_same_poll) {
  auto timers = make_timers(6);
  timer_wheel w;
  w.insert(timers[0], 10);
  w.insert(timers[1], 10);
  w.insert(timers[2], 300);
  std::vector<int> fired;
  while (timer_node* n = w.poll(200)) {
    const int id = static_cast<test_timer*>(n)->id;
    fired.push_back(id);
    if (id == 0) {
      w.insert(timers[3], 10);   // due now: after timer 1, which was already waiting
      w.insert(timers[4], 150);  // later but within this poll
      w.insert(timers[5], 201);  // beyond this poll
      w.remove(timers[2]);
    }
  }
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 3, 4}));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(drain(w, 201), std::vector<int>{5});
}

TEST(timer_wheel, overdue_deadline_fires_on_the_next_poll) {
  auto timers = make_timers(2);
  timer_wheel w;
  w.poll(1000);
  w.insert(timers[0], 1000);
  w.insert(timers[1], 3);  // already past: due now, after those already due now
  EXPECT_EQ(w.next_expiration(), 1000u);
  EXPECT_EQ(drain(w, 1000), (std::vector<int>{0, 1}));
}

TEST(timer_wheel, poll_with_an_earlier_time_is_harmless) {
  auto timers = make_timers(2);
  timer_wheel w;
  w.poll(100);
  w.insert(timers[0], 100);
  w.insert(timers[1], 150);
  EXPECT_EQ(w.poll(50), nullptr);
  EXPECT_EQ(w.poll(0), nullptr);
  EXPECT_EQ(w.elapsed(), 100u);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(drain(w, 149), std::vector<int>{0});
  EXPECT_EQ(drain(w, 150), std::vector<int>{1});
}

TEST(timer_wheel, next_expiration_is_exact_at_level_zero_and_never_late_above) {
  timer_wheel w(7);
  test_timer near;
  w.insert(near, 40);
  EXPECT_EQ(w.next_expiration(), 40u);
  w.remove(near);
  for (tick deadline : {tick{64}, tick{100}, tick{5000}, tick{1'000'000}, 3 * ms_per_year}) {
    test_timer t;
    w.insert(t, deadline);
    ASSERT_TRUE(w.next_expiration());
    EXPECT_LE(*w.next_expiration(), deadline);
    EXPECT_GT(*w.next_expiration(), w.elapsed());
    w.remove(t);
  }
  // Following next_expiration() reaches the deadline exactly, and no poll on the way fires.
  test_timer t;
  w.insert(t, 1'234'567);
  int steps = 0;
  for (;;) {
    const auto next = w.next_expiration();
    ASSERT_TRUE(next);
    ASSERT_LE(*next, 1'234'567u);
    if (timer_node* n = w.poll(*next)) {
      EXPECT_EQ(n, &t);
      EXPECT_EQ(*next, 1'234'567u);
      break;
    }
    ASSERT_LT(++steps, 10) << "a cascade per level at most";
  }
}

TEST(timer_wheel, far_future_deadlines_clamp_without_firing_early) {
  const std::vector<tick> deadlines = {ms_per_year, 2 * ms_per_year + 17, 3 * ms_per_year,
                                       10 * ms_per_year + 5, (tick{1} << 36) - 1, tick{1} << 36,
                                       (tick{1} << 36) + 1};
  for (tick start : {tick{0}, tick{12'345'678'901}, (tick{1} << 36) - 3}) {
    for (tick offset : deadlines) {
      const tick deadline = start + offset;
      timer_wheel w(start);
      test_timer t;
      w.insert(t, deadline);
      EXPECT_EQ(w.poll(deadline - 1), nullptr) << start << "+" << offset;
      EXPECT_EQ(w.poll(deadline), &t) << start << "+" << offset;
      // The same, but stepping through every cascade point on the way.
      timer_wheel stepped(start);
      stepped.insert(t, deadline);
      int steps = 0;
      timer_node* fired = nullptr;
      while (fired == nullptr && steps++ < 100) {
        const auto next = stepped.next_expiration();
        ASSERT_TRUE(next);
        ASSERT_LE(*next, deadline) << start << "+" << offset;
        fired = stepped.poll(*next);
        if (fired != nullptr) {
          EXPECT_EQ(*next, deadline);
        }
      }
      EXPECT_EQ(fired, &t) << start << "+" << offset;
    }
  }
}

TEST(timer_wheel, a_parked_far_timer_does_not_hide_an_earlier_top_level_slot) {
  // The far timer is parked in the top level's current slot, meaning one rotation ahead; the
  // other sits in a later slot of this rotation and must come first.
  timer_wheel w(5);
  auto timers = make_timers(2);
  const tick top_slot = tick{1} << 30;
  w.insert(timers[0], 5 * ms_per_year);
  w.insert(timers[1], 63 * top_slot + 7);
  ASSERT_TRUE(w.next_expiration());
  EXPECT_LE(*w.next_expiration(), 63 * top_slot + 7);
  EXPECT_EQ(drain(w, 63 * top_slot + 7), std::vector<int>{1});
  EXPECT_TRUE(timers[0].linked);
}

TEST(timer_wheel, the_largest_deadline_stays_pending_for_centuries) {
  test_timer t;
  timer_wheel w;
  w.insert(t, ~tick{0});
  EXPECT_EQ(w.poll(1000 * ms_per_year), nullptr);
  EXPECT_TRUE(t.linked);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_LE(*w.next_expiration(), w.elapsed() + (tick{1} << 36));
}

TEST(timer_wheel, sub_tick_sleep_waits_for_the_next_whole_tick) {
  using namespace std::chrono_literals;
  corio::detail::manual_clock c(std::chrono::steady_clock::time_point{} + 1h);
  const corio::detail::time_source ts(c);
  timer_wheel w(ts.now_tick());
  c.advance(100us);
  test_timer t;
  w.insert(t, ts.deadline_after(300us));
  EXPECT_EQ(w.poll(ts.now_tick()), nullptr);
  c.advance(300us);
  EXPECT_EQ(w.poll(ts.now_tick()), nullptr);  // 0.4 ms in: tick 1 has not fully passed
  EXPECT_EQ(ts.until(*w.next_expiration()), 600us);
  c.advance(600us);
  EXPECT_EQ(w.poll(ts.now_tick()), &t);
}

TEST(timer_wheel, a_million_timers_fire_once_in_order_and_cancelled_ones_never) {
  constexpr std::size_t count = 1'000'000;
  auto timers = make_timers(count);
  std::mt19937_64 rng(20240601);
  timer_wheel w;
  for (auto& t : timers) {
    // Mostly within minutes (dense: many equal deadlines), some hours to years away.
    const tick deadline = rng() % 8 != 0 ? rng() % 200'000 : rng() % (3 * ms_per_year);
    w.insert(t, deadline);
  }
  for (std::size_t i = 0; i < count; i += 2) ASSERT_TRUE(w.remove(timers[i]));
  ASSERT_EQ(w.size(), count / 2);

  std::vector<char> fired(count, 0);
  std::size_t fired_count = 0;
  tick last_deadline = 0;
  std::uint64_t last_sequence = 0;
  tick now = 0;
  while (!w.empty()) {
    now += 1 + rng() % (rng() % 4 == 0 ? ms_per_year / 4 : 5000);
    while (timer_node* n = w.poll(now)) {
      auto* t = static_cast<test_timer*>(n);
      ASSERT_LE(t->deadline, now);
      ASSERT_TRUE(t->id % 2 == 1) << "cancelled timer fired";
      ASSERT_EQ(fired[static_cast<std::size_t>(t->id)], 0) << "fired twice";
      fired[static_cast<std::size_t>(t->id)] = 1;
      ++fired_count;
      ASSERT_TRUE(t->deadline > last_deadline ||
                  (t->deadline == last_deadline && t->sequence > last_sequence))
          << "out of order";
      last_deadline = t->deadline;
      last_sequence = t->sequence;
    }
  }
  EXPECT_EQ(fired_count, count / 2);
  EXPECT_EQ(w.next_expiration(), std::nullopt);
}

// A trivially correct model: pending nodes keyed by (when due, insertion sequence). A node
// inserted with a deadline already behind the wheel is due at the wheel's current time.
class reference_wheel {
 public:
  void insert(int id, tick deadline) {
    remove(id);
    const tick due = std::max(deadline, elapsed_);
    where_[id] = pending_.emplace(std::pair{due, sequence_++}, id);
  }
  bool remove(int id) {
    const auto it = where_.find(id);
    if (it == where_.end()) return false;
    pending_.erase(it->second);
    where_.erase(it);
    return true;
  }
  // The next node to fire by `now`, or -1; moves time like the wheel does.
  int poll(tick now) {
    if (pending_.empty() || pending_.begin()->first.first > now) {
      elapsed_ = std::max(elapsed_, now);
      return -1;
    }
    const auto [key, id] = *pending_.begin();
    elapsed_ = key.first;
    remove(id);
    return id;
  }
  std::optional<tick> earliest() const {
    if (pending_.empty()) return std::nullopt;
    return pending_.begin()->first.first;
  }
  tick elapsed() const { return elapsed_; }
  std::size_t size() const { return pending_.size(); }

 private:
  using queue = std::multimap<std::pair<tick, std::uint64_t>, int>;
  queue pending_;
  std::map<int, queue::iterator> where_;
  tick elapsed_ = 0;
  std::uint64_t sequence_ = 0;
};

void run_differential(std::uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  auto timers = make_timers(256);
  timer_wheel w;
  reference_wheel ref;
  tick now = 0;
  const auto distance = [&rng]() -> tick {
    switch (rng() % 10) {
      case 0: return rng() % (tick{1} << 40);  // beyond the top level at times
      case 1: return rng() % (tick{1} << 24);
      case 2:
      case 3: return rng() % 5000;
      default: return rng() % 100;
    }
  };
  const auto random_op = [&](tick base) {
    auto& t = timers[rng() % timers.size()];
    if (rng() % 3 == 0) {
      EXPECT_EQ(w.remove(t), ref.remove(t.id));
    } else {
      // Sometimes in the past, to exercise the overdue path.
      const tick deadline = rng() % 16 == 0 ? base - std::min(base, distance()) : base + distance();
      w.insert(t, deadline);
      ref.insert(t.id, deadline);
    }
  };
  for (int step = 0; step < steps; ++step) {
    const auto op = rng() % 8;
    if (op < 5) {
      random_op(w.elapsed());
    } else if (op == 5 && now > 200) {
      now -= rng() % 200;  // a poll with an earlier time must change nothing
    } else {
      now = std::max(now, w.elapsed()) + distance();
      for (;;) {
        const int expected = ref.poll(now);
        timer_node* n = w.poll(now);
        ASSERT_EQ(n == nullptr ? -1 : static_cast<test_timer*>(n)->id, expected)
            << "seed " << seed << " step " << step << " now " << now << " elapsed " << w.elapsed();
        if (n == nullptr) break;
        ASSERT_LE(n->deadline, now);
        if (rng() % 4 == 0) random_op(w.elapsed());  // a callback re-arming timers
      }
    }
    ASSERT_EQ(w.elapsed(), ref.elapsed()) << "seed " << seed << " step " << step;
    ASSERT_EQ(w.size(), ref.size());
    const auto next = w.next_expiration();
    const auto earliest = ref.earliest();
    ASSERT_EQ(next.has_value(), earliest.has_value());
    if (next) {
      ASSERT_LE(*next, *earliest) << "seed " << seed << " step " << step;
      ASSERT_GE(*next, w.elapsed());
      if (*earliest / 64 == w.elapsed() / 64) {
        ASSERT_EQ(*next, *earliest);  // level 0: exact
      }
    }
  }
}

TEST(timer_wheel, matches_a_simple_reference_under_random_operations) {
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    run_differential(seed, 100'000);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
