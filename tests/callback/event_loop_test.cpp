// The callback event loop, run once per built backend.
#include <corio/event_loop.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "driver/clock.hpp"

namespace {

using namespace std::chrono_literals;
using loop_t = corio::event_loop<int>;

constexpr corio::token tok(std::uint64_t v) { return corio::token{v}; }

struct pipe_pair {
  int read = -1;
  int write = -1;
  pipe_pair() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      read = fds[0];
      write = fds[1];
    }
  }
  ~pipe_pair() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  void put(char c = 'x') const { ASSERT_EQ(::write(write, &c, 1), 1); }
  void drain() const {
    char buf[256];
    while (::read(read, buf, sizeof buf) > 0) {
    }
  }
};

// Records everything it is called with; tests read the log.
struct recorder {
  std::vector<std::string> log;
  std::function<void(loop_t&, corio::token)> on_readable;

  void readable(loop_t& loop, corio::token t) {
    log.push_back("r" + std::to_string(static_cast<std::uint64_t>(t)));
    if (on_readable) on_readable(loop, t);
  }
  void writable(loop_t&, corio::token t) {
    log.push_back("w" + std::to_string(static_cast<std::uint64_t>(t)));
  }
  void timeout(loop_t&, corio::token t) {
    log.push_back("t" + std::to_string(static_cast<std::uint64_t>(t)));
  }
  void notify(loop_t&, int m) { log.push_back("n" + std::to_string(m)); }
  void signal(loop_t&, corio::signal_info info) {
    log.push_back("s" + std::to_string(info.signo) + ":" + std::to_string(info.sender_pid));
  }
};

class event_loop_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  loop_t make(const corio::detail::clock* clock = nullptr, std::uint32_t callbacks_per_io_poll = 61) {
    corio::loop_options o;
    o.backend = GetParam();
    o.clock = clock;
    o.callbacks_per_io_poll = callbacks_per_io_poll;
    auto l = loop_t::create(o);
    EXPECT_TRUE(l.has_value()) << l.error().message();
    return std::move(*l);
  }

  // Runs turns (each at most 100 ms) until `done` or 200 turns; never sleeps to synchronise.
  template <class Handler, class Pred>
  static void run_until(loop_t& loop, Handler& h, Pred done) {
    for (int i = 0; i < 200 && !done(); ++i) ASSERT_TRUE(loop.run_once(h, 100ms));
  }
};

TEST_P(event_loop_test, messages_sent_before_run_arrive_in_order) {
  auto loop = make();
  auto tx = loop.sender();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(tx.send(i));
  struct h {
    std::vector<int> got;
    void notify(loop_t& l, int m) {
      got.push_back(m);
      if (got.size() == 5) l.shutdown();
    }
  } handler;
  ASSERT_TRUE(loop.run(handler));
  EXPECT_EQ(handler.got, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_P(event_loop_test, senders_on_many_threads_lose_and_reorder_nothing) {
  auto loop = make();
  constexpr int threads = 4;
  constexpr int per_thread = 20000;
  struct h {
    std::array<int, threads> next{};
    int total = 0;
    bool in_order = true;
    void notify(loop_t& l, int m) {
      const int thread = m / per_thread;
      const int seq = m % per_thread;
      if (next[static_cast<std::size_t>(thread)] != seq) in_order = false;
      next[static_cast<std::size_t>(thread)] = seq + 1;
      if (++total == threads * per_thread) l.shutdown();
    }
    void timeout(loop_t& l, corio::token) { l.shutdown(); }  // a safety net, not a sync point
  } handler;
  ASSERT_TRUE(loop.timeout(tok(99), 60s));
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([tx = loop.sender(), t] {
      for (int i = 0; i < per_thread; ++i) ASSERT_TRUE(tx.send(t * per_thread + i));
    });
  }
  ASSERT_TRUE(loop.run(handler));
  for (auto& p : producers) p.join();
  EXPECT_EQ(handler.total, threads * per_thread);
  EXPECT_TRUE(handler.in_order);
}

TEST_P(event_loop_test, sender_outliving_its_loop_reports_loop_stopped) {
  auto tx = [&] {
    auto loop = make();
    return loop.sender();
  }();
  auto r = tx.send(1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), corio::error::loop_stopped);
}

TEST_P(event_loop_test, readable_and_writable_reach_the_handler) {
  auto loop = make();
  pipe_pair p;
  ASSERT_TRUE(loop.add(p.read, tok(1), corio::interest::readable));
  ASSERT_TRUE(loop.add(p.write, tok(2), corio::interest::writable));
  p.put();
  recorder h;
  run_until(loop, h, [&] { return h.log.size() >= 2; });
  std::sort(h.log.begin(), h.log.end());
  EXPECT_EQ(h.log, (std::vector<std::string>{"r1", "w2"}));
}

TEST_P(event_loop_test, hang_up_reaches_readable) {
  auto loop = make();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_TRUE(loop.add(sv[0], tok(5), corio::interest::readable));
  ::close(sv[1]);
  recorder h;
  run_until(loop, h, [&] { return !h.log.empty(); });
  EXPECT_EQ(h.log, (std::vector<std::string>{"r5"}));
  char c;
  EXPECT_EQ(::read(sv[0], &c, 1), 0);
  ::close(sv[0]);
}

// A handler may stop reading at a short read (the kernel's queue ran dry; new data raises a new
// edge), as echo_server_callbacks does to save the read that would return EAGAIN. A FIN that
// came with those last bytes raised its edge already, so the loop hands the hang-up out once
// more in the next turn, and the handler's next read sees the end of stream.
TEST_P(event_loop_test, a_hang_up_that_came_with_the_last_bytes_is_reported_again) {
  auto loop = make();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_TRUE(loop.add(sv[0], tok(5), corio::interest::readable));
  ASSERT_EQ(::write(sv[1], "abc", 3), 3);
  ::close(sv[1]);
  recorder h;
  std::vector<long> reads;
  h.on_readable = [&](loop_t&, corio::token) {
    char buf[16];
    reads.push_back(::read(sv[0], buf, sizeof buf));  // one read: short means "drained"
  };
  for (int i = 0; i < 10 && reads.size() < 2; ++i) ASSERT_TRUE(loop.run_once(h, 50ms));
  EXPECT_EQ(reads, (std::vector<long>{3, 0}));
  ::close(sv[0]);
}

// Two pipes readable in the same turn (tokens 1 and 2); whichever callback comes first calls
// act(loop, other pipe's read end, other's token). Returns the callbacks of that turn and the next.
template <class Act>
std::size_t callbacks_when_the_first_acts_on_the_other(loop_t& loop, Act act) {
  pipe_pair a, b;
  EXPECT_TRUE(loop.add(a.read, tok(1), corio::interest::readable));
  EXPECT_TRUE(loop.add(b.read, tok(2), corio::interest::readable));
  a.put();
  b.put();
  recorder h;
  h.on_readable = [&](loop_t& l, corio::token t) {
    const bool first_is_a = t == tok(1);
    act(l, first_is_a ? b.read : a.read, first_is_a ? tok(2) : tok(1));
  };
  EXPECT_TRUE(loop.run_once(h, 1s));
  EXPECT_TRUE(loop.run_once(h, 0ms));
  return h.log.size();
}

TEST_P(event_loop_test, removed_registration_gets_no_event_of_the_same_turn) {
  auto loop = make();
  EXPECT_EQ(callbacks_when_the_first_acts_on_the_other(
                loop, [](loop_t& l, int other, corio::token) { ASSERT_TRUE(l.remove(other)); }),
            1u);
}

// The turn's readiness is resolved when it begins; a modify() in an earlier callback of the
// turn still decides which callbacks a later event reaches.
TEST_P(event_loop_test, interest_modified_earlier_in_the_turn_filters_a_later_event) {
  auto loop = make();
  // The first takes readable interest from the other (a pipe's read end never becomes
  // writable, so the other gets no callback at all).
  EXPECT_EQ(callbacks_when_the_first_acts_on_the_other(
                loop,
                [](loop_t& l, int other, corio::token t) {
                  ASSERT_TRUE(l.modify(other, t, corio::interest::writable));
                }),
            1u);
}

TEST_P(event_loop_test, fd_number_reused_after_close_delivers_only_the_new_token) {
  auto loop = make();
  auto old_pipe = std::make_unique<pipe_pair>();
  const int fd = old_pipe->read;
  ASSERT_TRUE(loop.add(fd, tok(1), corio::interest::readable));
  old_pipe.reset();  // closed without remove: the loop's slot for this fd is now a ghost
  pipe_pair fresh;
  ASSERT_EQ(fresh.read, fd) << "the kernel hands out the lowest free fd";
  ASSERT_TRUE(loop.add(fresh.read, tok(2), corio::interest::readable));
  fresh.put();
  recorder h;
  run_until(loop, h, [&] { return !h.log.empty(); });
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"r2"}));
}

TEST_P(event_loop_test, bad_registrations_are_clear_errors) {
  auto loop = make();
  pipe_pair p;
  ASSERT_TRUE(loop.add(p.read, tok(1), corio::interest::readable));
  auto twice = loop.add(p.read, tok(1), corio::interest::readable);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error(), corio::error::already_registered);

  auto not_there = loop.remove(p.write);
  ASSERT_FALSE(not_there);
  EXPECT_EQ(not_there.error(), corio::error::not_registered);

  auto modify_missing = loop.modify(p.write, tok(3), corio::interest::writable);
  ASSERT_FALSE(modify_missing);
  EXPECT_EQ(modify_missing.error(), corio::error::not_registered);

  const int closed = ::dup(p.write);
  ::close(closed);
  auto bad = loop.add(closed, tok(4), corio::interest::readable);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), std::errc::bad_file_descriptor);

  auto negative = loop.add(-1, tok(4), corio::interest::readable);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error(), std::errc::bad_file_descriptor);
}

TEST_P(event_loop_test, modify_switches_interest) {
  auto loop = make();
  pipe_pair p;
  ASSERT_TRUE(loop.add(p.write, tok(1), corio::interest::readable));
  recorder h;
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_TRUE(h.log.empty());
  ASSERT_TRUE(loop.modify(p.write, tok(7), corio::interest::writable));
  run_until(loop, h, [&] { return !h.log.empty(); });
  EXPECT_EQ(h.log, (std::vector<std::string>{"w7"}));
}

TEST_P(event_loop_test, timeouts_fire_in_deadline_then_arming_order) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  ASSERT_TRUE(loop.timeout(tok(1), 30ms));
  ASSERT_TRUE(loop.timeout(tok(2), 10ms));
  ASSERT_TRUE(loop.timeout(tok(3), 20ms));
  ASSERT_TRUE(loop.timeout(tok(4), 10ms));
  recorder h;
  clock.advance(9ms);
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_TRUE(h.log.empty()) << "nothing is due before 10 ms";
  clock.advance(21ms);
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"t2", "t4", "t3", "t1"}));
}

TEST_P(event_loop_test, cleared_timeout_never_fires_and_clearing_twice_is_harmless) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  auto keep = loop.timeout(tok(1), 5ms);
  auto drop = loop.timeout(tok(2), 5ms);
  ASSERT_TRUE(keep && drop);
  EXPECT_TRUE(loop.clear_timeout(*drop));
  EXPECT_FALSE(loop.clear_timeout(*drop));
  clock.advance(5ms);
  recorder h;
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"t1"}));
  EXPECT_FALSE(loop.clear_timeout(*keep)) << "a fired timeout cannot be cleared";
  EXPECT_FALSE(loop.clear_timeout(corio::timeout_handle{}));
}

TEST_P(event_loop_test, stale_timeout_handle_does_not_clear_a_reused_slot) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  auto first = loop.timeout(tok(1), 1ms);
  ASSERT_TRUE(first);
  ASSERT_TRUE(loop.clear_timeout(*first));
  auto second = loop.timeout(tok(2), 1ms);  // likely reuses the first one's slot
  ASSERT_TRUE(second);
  EXPECT_FALSE(loop.clear_timeout(*first));
  clock.advance(1ms);
  recorder h;
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"t2"}));
}

TEST_P(event_loop_test, real_timeout_fires_no_earlier_than_asked) {
  auto loop = make();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(loop.timeout(tok(1), 20ms));
  recorder h;
  run_until(loop, h, [&] { return !h.log.empty(); });
  EXPECT_EQ(h.log, (std::vector<std::string>{"t1"}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST_P(event_loop_test, zero_timeout_rearmed_from_its_callback_does_not_starve_io) {
  auto loop = make();
  pipe_pair p;
  ASSERT_TRUE(loop.add(p.read, tok(1), corio::interest::readable));
  struct h {
    int timeouts = 0;
    bool read = false;
    void timeout(loop_t& l, corio::token t) {
      ++timeouts;
      ASSERT_TRUE(l.timeout(t, 0ms));
    }
    void readable(loop_t&, corio::token) { read = true; }
  } handler;
  ASSERT_TRUE(loop.timeout(tok(2), 0ms));
  p.put();
  for (int i = 0; i < 200 && !handler.read; ++i) ASSERT_TRUE(loop.run_once(handler, 100ms));
  EXPECT_TRUE(handler.read);
  EXPECT_LT(handler.timeouts, 200);
}

// A handler that re-queues itself runs without a system call per turn, but the kernel is asked
// for readiness again once callbacks_per_io_poll callbacks have run: the pipe's data, there from
// the start, is seen exactly when the bound says (1: every turn asks).
TEST_P(event_loop_test, zero_timeout_requeue_asks_for_io_exactly_at_the_bound) {
  for (const std::uint32_t bound : {1u, 8u, 61u}) {
    auto loop = make(nullptr, bound);
    pipe_pair p;
    ASSERT_TRUE(loop.add(p.read, tok(1), corio::interest::readable));
    struct h {
      int timeouts = 0;
      int timeouts_at_read = -1;
      void timeout(loop_t& l, corio::token t) {
        ++timeouts;
        ASSERT_TRUE(l.timeout(t, 0ms));
      }
      void readable(loop_t&, corio::token) {
        if (timeouts_at_read < 0) timeouts_at_read = timeouts;
      }
    } handler;
    ASSERT_TRUE(loop.timeout(tok(2), 0ms));
    p.put();
    for (int i = 0; i < 1000 && handler.timeouts_at_read < 0; ++i) {
      ASSERT_TRUE(loop.run_once(handler, 100ms));
    }
    EXPECT_EQ(handler.timeouts_at_read, bound == 1 ? 0 : static_cast<int>(bound)) << bound;
  }
}

// Skipping the kernel does not delay timers: a due one runs in the same turn as the queued work.
TEST_P(event_loop_test, due_timer_runs_in_a_turn_that_skips_the_kernel) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  recorder h;
  ASSERT_TRUE(loop.timeout(tok(1), 0ms));
  ASSERT_TRUE(loop.run_once(h, 0ms));  // skips the kernel: zero-delay work was queued
  ASSERT_TRUE(loop.timeout(tok(2), 0ms));
  ASSERT_TRUE(loop.timeout(tok(3), 5ms));
  clock.advance(5ms);
  ASSERT_TRUE(loop.run_once(h, 0ms));  // skips the kernel again (one callback ran since)
  EXPECT_EQ(h.log, (std::vector<std::string>{"t1", "t2", "t3"}));
}

// Messages do not wait for the kernel either: each turn delivers what was sent before it.
TEST_P(event_loop_test, message_arrives_in_the_next_turn_while_work_is_requeued) {
  auto loop = make();
  struct h {
    std::vector<int> got;
    int timeouts = 0;
    void timeout(loop_t& l, corio::token t) {
      ++timeouts;
      ASSERT_TRUE(l.timeout(t, 0ms));
    }
    void notify(loop_t&, int m) { got.push_back(m); }
  } handler;
  ASSERT_TRUE(loop.timeout(tok(1), 0ms));
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  ASSERT_TRUE(loop.sender().send(7));
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  EXPECT_EQ(handler.got, (std::vector<int>{7}));
  EXPECT_EQ(handler.timeouts, 2);
}

// The clock stands still here: a zero timeout must not wait for the next 1 ms tick.
TEST_P(event_loop_test, zero_timeout_runs_in_the_next_turn_not_the_next_tick) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  recorder h;
  ASSERT_TRUE(loop.timeout(tok(1), 0ms));
  ASSERT_TRUE(loop.timeout(tok(2), -5ms));  // a negative delay counts as zero
  ASSERT_TRUE(loop.timeout(tok(3), 1ms));   // a real delay still waits for its tick
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"t1", "t2"}));
  clock.advance(1ms);
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"t1", "t2", "t3"}));
}

TEST_P(event_loop_test, zero_timeout_rearmed_from_its_callback_runs_once_per_turn) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  struct h {
    int timeouts = 0;
    void timeout(loop_t& l, corio::token t) {
      ++timeouts;
      ASSERT_TRUE(l.timeout(t, 0ms));
    }
  } handler;
  ASSERT_TRUE(loop.timeout(tok(1), 0ms));
  for (int turn = 1; turn <= 5; ++turn) {
    // No max_wait: a pending zero timeout alone must keep the wait from blocking.
    ASSERT_TRUE(loop.run_once(handler, std::nullopt));
    EXPECT_EQ(handler.timeouts, turn);
  }
}

TEST_P(event_loop_test, cleared_zero_timeout_never_runs) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  auto drop = loop.timeout(tok(1), 0ms);
  auto keep = loop.timeout(tok(2), 0ms);
  ASSERT_TRUE(drop && keep);
  EXPECT_TRUE(loop.clear_timeout(*drop));
  EXPECT_FALSE(loop.clear_timeout(*drop));
  recorder h;
  ASSERT_TRUE(loop.run_once(h, 0ms));
  ASSERT_TRUE(loop.run_once(h, 0ms));
  EXPECT_EQ(h.log, (std::vector<std::string>{"t2"}));
  EXPECT_FALSE(loop.clear_timeout(*keep)) << "a fired timeout cannot be cleared";
}

// Records the timeouts that fire; from the callback of `clear_from` it clears `victim`, after
// arming a zero timeout `arm_first` when one is given.
struct clearing_handler {
  corio::token clear_from;
  std::optional<corio::token> arm_first;
  corio::timeout_handle victim;
  std::vector<std::uint64_t> fired;
  void timeout(loop_t& l, corio::token t) {
    fired.push_back(static_cast<std::uint64_t>(t));
    if (t != clear_from) return;
    if (arm_first) {
      ASSERT_TRUE(l.timeout(*arm_first, 0ms));
    }
    EXPECT_TRUE(l.clear_timeout(victim));
  }
};

// Clearing a zero timeout that is due in this very turn, from an earlier callback of the turn.
TEST_P(event_loop_test, zero_timeout_cleared_by_an_earlier_callback_of_its_turn_never_runs) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  clearing_handler handler{tok(1), std::nullopt, {}, {}};
  ASSERT_TRUE(loop.timeout(tok(1), 0ms));
  auto victim = loop.timeout(tok(2), 0ms);
  ASSERT_TRUE(victim);
  handler.victim = *victim;
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  EXPECT_EQ(handler.fired, (std::vector<std::uint64_t>{1}));
}

// Clearing the last zero timeout due in this turn, behind which one was armed for the next
// turn: the new one still waits for the next turn.
TEST_P(event_loop_test, clearing_the_last_due_zero_timeout_does_not_pull_in_the_next_turns) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  clearing_handler handler{tok(1), tok(3), {}, {}};
  ASSERT_TRUE(loop.timeout(tok(1), 0ms));
  auto last_due = loop.timeout(tok(2), 0ms);
  ASSERT_TRUE(last_due);
  handler.victim = *last_due;
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  EXPECT_EQ(handler.fired, (std::vector<std::uint64_t>{1}));
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  EXPECT_EQ(handler.fired, (std::vector<std::uint64_t>{1, 3}));
}

TEST_P(event_loop_test, one_hundred_thousand_timeouts_fire_exactly_once) {
  corio::detail::manual_clock clock;
  auto loop = make(&clock);
  constexpr int count = 100000;
  for (int i = 0; i < count; ++i) ASSERT_TRUE(loop.timeout(tok(static_cast<unsigned>(i)),
                                                           std::chrono::milliseconds(i % 997)));
  struct h {
    std::vector<int> hits = std::vector<int>(count);
    void timeout(loop_t&, corio::token t) { ++hits[static_cast<std::size_t>(t)]; }
  } handler;
  clock.advance(1s);
  ASSERT_TRUE(loop.run_once(handler, 0ms));
  EXPECT_EQ(std::count(handler.hits.begin(), handler.hits.end(), 1), count);
}

TEST_P(event_loop_test, signals_reach_the_handler_with_the_sender_pid) {
  auto loop = make();
  ASSERT_TRUE(loop.watch_signal(SIGUSR1));
  ASSERT_EQ(::raise(SIGUSR1), 0);
  recorder h;
  run_until(loop, h, [&] { return !h.log.empty(); });
  EXPECT_EQ(h.log, (std::vector<std::string>{"s" + std::to_string(SIGUSR1) + ":" +
                                             std::to_string(::getpid())}));
  ASSERT_TRUE(loop.unwatch_signal(SIGUSR1));
}

TEST_P(event_loop_test, shutdown_from_a_callback_ends_run) {
  auto loop = make();
  struct h {
    int n = 0;
    void notify(loop_t& l, int) {
      ++n;
      l.shutdown();
    }
  } handler;
  ASSERT_TRUE(loop.sender().send(1));
  ASSERT_TRUE(loop.run(handler));
  EXPECT_EQ(handler.n, 1);
  EXPECT_FALSE(loop.is_running());
}

TEST_P(event_loop_test, a_handler_needs_only_the_callbacks_it_uses) {
  auto loop = make();
  struct nothing {};
  nothing handler;
  pipe_pair p;
  ASSERT_TRUE(loop.add(p.read, tok(1), corio::interest::readable));
  p.put();
  ASSERT_TRUE(loop.sender().send(3));
  ASSERT_TRUE(loop.timeout(tok(2), 0ms));
  EXPECT_TRUE(loop.run_once(handler, 10ms));
}

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(backends, event_loop_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
