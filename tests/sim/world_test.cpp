// The world: virtual time, the ordinary awaitables inside it, hosts, crashes and determinism.
#include <corio/sim.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <corio/sync/channel.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

using namespace std::chrono_literals;
using corio::sim::world;

namespace {

corio::task<> sleeper(std::vector<int>& log, int id, std::chrono::milliseconds d) {
  (void)co_await corio::sleep_for(d);
  log.push_back(id);
}

TEST(World, AnHourOfSleepCostsNothingAndTimeJumps) {
  world w(1);
  auto h = w.add_host();
  std::vector<int> log;
  w.spawn(h, sleeper(log, 1, std::chrono::hours(1)));
  w.spawn(h, sleeper(log, 2, 30min));
  const auto wall = std::chrono::steady_clock::now();
  w.run_for(2h);
  EXPECT_LT(std::chrono::steady_clock::now() - wall, 2s);
  EXPECT_EQ(log, (std::vector<int>{2, 1}));
  EXPECT_EQ(w.now(), 2h);
}

// A crash destroys the host's frames while they wait. timeout's and when_any's children await
// an awaiter that lives in their parent's frame, armed with the child's own stop state, which
// dies first: the awaiter must not reach into it from its destructor. Only ASan sees the
// difference (freed frame-pool blocks are poisoned): it failed with use-after-poison in
// ~timer_operation before task_stop released what was armed on it.
corio::task<> waits_under_deadlines(int& started) {
  ++started;
  auto late = corio::sleep_for(1h);
  (void)co_await corio::when_any(late, corio::sleep_for(2h));
}
corio::task<> waits_under_a_timeout(int& started) {
  ++started;
  (void)co_await corio::timeout(1h, corio::sleep_for(2h));
}

TEST(World, ACrashWhileTimeoutsAndRacesWaitFreesEveryFrameCleanly) {
  world w(1);
  auto h = w.add_host();
  int started = 0;
  w.spawn(h, waits_under_a_timeout(started));
  w.spawn(h, waits_under_deadlines(started));
  w.run_for(1s);
  EXPECT_EQ(started, 2);
  w.crash(h);
  w.run_for(3h);  // nothing of the dead host may wake
  EXPECT_EQ(w.now(), 3h + 1s);
}

TEST(World, RunForStopsAtItsEndEvenWithTimersPending) {
  world w(1);
  auto h = w.add_host();
  std::vector<int> log;
  w.spawn(h, sleeper(log, 1, 10s));
  w.run_for(5s);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(w.now(), 5s);
  w.run_for(5s);
  EXPECT_EQ(log, std::vector<int>{1});
}

// (Not `while (co_await ...)`: g++ 12 miscompiles a co_await inside a condition.)
corio::task<> ticker(int& ticks) {
  for (;;) {
    auto slept = co_await corio::sleep_for(100ms);
    if (!slept) co_return;
    ++ticks;
  }
}

corio::task<> interval_ticker(int& ticks, std::chrono::milliseconds& last) {
  corio::interval iv(100ms);
  const auto start = corio::now();
  for (;;) {
    auto at = co_await iv.tick();
    if (!at) co_return;
    ++ticks;
    last = std::chrono::duration_cast<std::chrono::milliseconds>(*at - start);
  }
}

// corio::interval runs by the executor's clock, so inside the world it ticks on virtual time:
// 10 virtual seconds of a 100 ms interval are ticks at 0, 100, ..., 10000 ms.
TEST(World, IntervalTicksOnVirtualTime) {
  world w(1);
  auto h = w.add_host();
  int ticks = 0;
  std::chrono::milliseconds last{-1};
  w.spawn(h, interval_ticker(ticks, last));
  w.run_for(10s);
  EXPECT_GE(ticks, 100);
  EXPECT_LE(ticks, 101);
  EXPECT_GE(last, 9900ms);
  EXPECT_LE(last, 10000ms);
  EXPECT_EQ(w.now(), 10s);
}

TEST(World, SleepTimeoutWhenAnyAndChannelsWorkUnchanged) {
  world w(2);
  auto h = w.add_host();
  int ticks = 0;
  w.spawn(h, ticker(ticks));
  bool timed_out = false;
  int received = 0;
  w.spawn(h, [](bool& out) -> corio::task<> {
    auto r = co_await corio::timeout(250ms, corio::sleep_for(1s));
    out = r.error() == std::errc::timed_out;
  }(timed_out));
  w.spawn(h, [](int& out) -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    auto first = co_await corio::when_any(
        [](corio::channel_receiver<int>& r) -> corio::task<int> { co_return (co_await r.recv()).value(); }(rx),
        [](corio::channel_sender<int>& t) -> corio::task<int> {
          (void)co_await corio::sleep_for(50ms);
          (void)co_await t.send(7);  // the receiver is the other branch: it takes it
          (void)co_await corio::sleep_for(1h);
          co_return -1;
        }(tx));
    out = first.index == 0 ? std::get<0>(first.value) : -1;
  }(received));
  w.run_for(1s);
  EXPECT_GE(ticks, 9);
  EXPECT_LE(ticks, 11);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(received, 7);
}

corio::task<> forever(int& ticks) {
  while (true) {
    (void)co_await corio::sleep_for(10ms);
    ++ticks;
  }
}

TEST(World, CrashEndsTheHostsTasksAndRestartRunsItsBoot) {
  world w(3);
  int ticks = 0;
  int boots = 0;
  auto h = w.add_host([&]() -> corio::task<> {
    ++boots;
    co_await forever(ticks);
  });
  w.run_for(1s);
  const int before = ticks;
  EXPECT_GE(before, 90);
  w.crash(h);
  w.run_for(1s);
  EXPECT_FALSE(w.is_up(h));
  EXPECT_LE(ticks, before + 1);  // nothing runs on a crashed host
  w.restart(h);
  w.run_for(1s);
  EXPECT_EQ(boots, 2);
  EXPECT_GE(ticks, before + 90);
}

TEST(World, DiskLosesUnsyncedWritesOnCrash) {
  world w(4);
  auto h = w.add_host();
  auto& d = w.disk(h);
  d.append("log", "abc");
  d.sync();
  d.append("log", "def");
  d.write("meta", "x");
  EXPECT_EQ(d.read("log"), "abcdef");
  w.crash(h);
  w.run_for(1ms);
  EXPECT_EQ(d.read("log"), "abc");
  EXPECT_EQ(d.read("meta"), "");
  d.truncate("log", 1);
  d.append("log", "Z");
  d.sync();
  EXPECT_EQ(d.read("log"), "aZ");
}

TEST(World, ExceptionInAHostTaskEndsTheRunAndIsRethrown) {
  world w(5);
  auto h = w.add_host();
  w.spawn(h, []() -> corio::task<> {
    (void)co_await corio::sleep_for(10ms);
    throw std::runtime_error("boom");
  }());
  EXPECT_THROW(w.run_for(1s), std::runtime_error);
}

TEST(World, RunUntilStopsWhenThePredicateHolds) {
  world w(6);
  auto h = w.add_host();
  int ticks = 0;
  w.spawn(h, forever(ticks));
  EXPECT_TRUE(w.run_until([&] { return ticks == 25; }, 10s));
  EXPECT_EQ(ticks, 25);
  EXPECT_EQ(w.now(), 250ms);
  EXPECT_FALSE(w.run_until([] { return false; }, 1s));
}

TEST(World, ReplayCommandNamesTheSeed) {
  world w(1234);
  EXPECT_EQ(w.replay_command("raft_sim"), "CORIO_SIM_SEED=1234 raft_sim");
}

}  // namespace
