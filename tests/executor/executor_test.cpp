// The per-thread executor seen through block_on, spawn, join_handle and sleep.
#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>

#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <array>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "support/loopback_pair.hpp"

namespace {

using namespace std::chrono_literals;
using corio::test::counted;

corio::runtime_options on(corio::backend_kind kind) {
  corio::runtime_options o;
  o.backend = kind;
  return o;
}

class executor_test : public ::testing::TestWithParam<corio::backend_kind> {};

TEST_P(executor_test, block_on_returns_the_value_and_rethrows_exceptions) {
  auto answer = []() -> corio::task<int> { co_return 42; };
  EXPECT_EQ(corio::block_on(answer(), on(GetParam())), 42);
  auto boom = []() -> corio::task<> {
    throw std::runtime_error("boom");
    co_return;
  };
  EXPECT_THROW(corio::block_on(boom(), on(GetParam())), std::runtime_error);
}

TEST_P(executor_test, block_on_inside_a_corio_thread_is_refused) {
  auto inner = []() -> corio::task<> { co_return; };
  auto outer = [&]() -> corio::task<bool> {
    try {
      corio::block_on(inner());
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(corio::block_on(outer(), on(GetParam())));
}

TEST(executor, spawn_outside_a_corio_thread_is_refused) {
  auto work = []() -> corio::task<> { co_return; };
  EXPECT_THROW((void)corio::spawn(work()), std::logic_error);
}

TEST_P(executor_test, spawned_tasks_interleave_at_suspension_points) {
  std::vector<std::string> trace;
  auto worker = [&](std::string name) -> corio::task<> {
    trace.push_back(name + "1");
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    trace.push_back(name + "2");
  };
  auto root = [&]() -> corio::task<> {
    auto a = corio::spawn(worker("a"));
    auto b = corio::spawn(worker("b"));
    co_await a;
    co_await b;
  };
  corio::block_on(root(), on(GetParam()));
  ASSERT_EQ(trace.size(), 4u);
  EXPECT_EQ(trace[0], "a1");
  EXPECT_EQ(trace[1], "b1") << "b must start while a sleeps";
}

TEST_P(executor_test, join_handle_yields_the_result_or_the_exception) {
  auto value = []() -> corio::task<std::string> {
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    co_return "done";
  };
  auto fails = []() -> corio::task<int> {
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    throw std::runtime_error("failed");
  };
  auto root = [&]() -> corio::task<int> {
    auto ok = corio::spawn(value());
    auto bad = corio::spawn(fails());
    EXPECT_EQ(co_await ok, "done");
    try {
      (void)co_await bad;
    } catch (const std::runtime_error&) {
      co_return 1;
    }
    co_return 0;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), 1);
}

TEST_P(executor_test, joining_a_task_that_already_finished_does_not_suspend) {
  auto quick = []() -> corio::task<int> { co_return 7; };
  auto root = [&]() -> corio::task<int> {
    auto h = corio::spawn(quick());
    (void)co_await corio::sleep_for(1ms);  // lets it run to completion first
    EXPECT_TRUE(h.is_finished());
    co_return co_await h;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), 7);
}

// A task that ends on its joiner's thread continues the joiner at once (symmetric transfer
// from its final suspend), ahead of tasks that were ready before: no trip through the queue.
TEST_P(executor_test, a_joiner_on_the_tasks_thread_continues_as_soon_as_the_task_ends) {
  std::vector<std::string> order;
  auto note = [&](std::string what) -> corio::task<int> {
    order.push_back(std::move(what));
    co_return 7;
  };
  auto root = [&]() -> corio::task<> {
    auto joined = corio::spawn(note("task"));
    auto other = corio::spawn(note("other"));  // ready before the joiner is woken
    EXPECT_EQ(co_await joined, 7);
    order.push_back("joiner");
    (void)co_await other;
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_EQ(order, (std::vector<std::string>{"task", "joiner", "other"}));
}

// The joined task stops its joiner, then ends, both before the joiner's thread turns: the
// cancel is on its way when the end completes the join, so the result stands (as for any
// operation whose result raced a cancel) and the joiner resumes exactly once, from the cancel
// path, not also directly from the task's end.
TEST_P(executor_test, a_cancel_racing_the_end_of_a_joined_task_resumes_the_joiner_once) {
  std::optional<corio::join_handle<int>> joiner;
  int resumed = 0;
  auto stops_its_joiner = [&]() -> corio::task<int> {
    EXPECT_TRUE(joiner->request_stop());
    co_return 42;
  };
  auto joins = [&]() -> corio::task<int> {
    const int v = co_await corio::spawn(stops_its_joiner());
    ++resumed;
    co_return v;
  };
  auto root = [&]() -> corio::task<int> {
    joiner.emplace(corio::spawn(joins()));
    const int v = co_await *joiner;
    // A second resume of the joiner would come from the cancel, posted to this executor:
    // it is drained before the next turn.
    for (int i = 0; i < 3; ++i) co_await corio::yield();
    co_return v;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), 42);
  EXPECT_EQ(resumed, 1);
}

// A task ending with an exception hands it to a joiner it continues directly, and one that
// ends after its handle was detached frees its block without waking anyone.
TEST_P(executor_test, a_directly_continued_joiner_gets_the_exception_detached_ends_quietly) {
  using corio::detail::frame_pool_stats;
  auto fails = []() -> corio::task<int> {
    throw std::runtime_error("failed");
    co_return 0;
  };
  bool ran = false;
  auto quiet = [&]() -> corio::task<> {
    ran = true;
    co_return;
  };
  auto root = [&]() -> corio::task<int> {
    const auto before = frame_pool_stats().deallocations;
    corio::spawn(quiet()).detach();
    auto h = corio::spawn(fails());
    try {
      (void)co_await h;
    } catch (const std::runtime_error&) {
      EXPECT_TRUE(ran);
      // the detached task's block and frame, and the failed task's frame (its block stays
      // with h)
      EXPECT_EQ(frame_pool_stats().deallocations, before + 3);
      co_return 1;
    }
    co_return 0;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), 1);
}

TEST_P(executor_test, detached_task_keeps_running) {
  bool ran = false;
  auto background = [&]() -> corio::task<> {
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    ran = true;
  };
  auto root = [&]() -> corio::task<> {
    corio::spawn(background()).detach();
    (void)co_await corio::sleep_for(5ms);  // nothing stops this task
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_TRUE(ran);
}

TEST_P(executor_test, sleeps_end_in_deadline_order_and_never_early) {
  std::vector<int> order;
  auto sleeper = [&](int ms) -> corio::task<> {
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await corio::sleep_for(std::chrono::milliseconds(ms));
    EXPECT_TRUE(r);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(ms));
    order.push_back(ms);
  };
  auto root = [&]() -> corio::task<> {
    auto a = corio::spawn(sleeper(30));
    auto b = corio::spawn(sleeper(10));
    auto c = corio::spawn(sleeper(20));
    co_await a;
    co_await b;
    co_await c;
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST_P(executor_test, request_stop_cancels_a_pending_sleep_promptly) {
  auto sleeper = []() -> corio::task<std::error_code> {
    auto r = co_await corio::sleep_for(1h);
    co_return r.error();
  };
  auto root = [&]() -> corio::task<std::error_code> {
    auto h = corio::spawn(sleeper());
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    EXPECT_TRUE(h.request_stop());
    co_return co_await h;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), std::errc::operation_canceled);
}

// A task that never awaits a cancellable operation still sees its stop request, and so does
// a task it awaits (the stop state is inherited).
TEST_P(executor_test, a_task_reads_its_own_stop_state) {
  const int turns = corio::block_on(
      []() -> corio::task<int> {
        auto spinner = corio::spawn([]() -> corio::task<int> {
          auto inner = []() -> corio::task<bool> {
            co_return co_await corio::this_task::stop_requested();
          };
          int n = 0;
          while (!co_await corio::this_task::stop_requested() && n < 100'000) {
            if (co_await inner()) co_return -1;  // the inner task saw it before the outer did
            co_await corio::yield();
            ++n;
          }
          co_return n;
        }());
        for (int i = 0; i < 5; ++i) co_await corio::yield();
        EXPECT_TRUE(spinner.request_stop());
        co_return co_await spinner;
      }(),
      on(GetParam()));
  EXPECT_GE(turns, 3) << "stop_requested() was false before the request";
  EXPECT_LT(turns, 100) << "the request was not seen";
}

// The stop state's lock against the task arming and disarming its operations: a stop from
// another thread lands at every point of a loop of short sleeps and always ends the loop with
// operation_canceled (TSan checks the protocol).
TEST_P(executor_test, a_stop_from_another_thread_races_arming_and_disarming) {
  for (int round = 0; round < 12; ++round) {
    std::atomic<int> iterations{0};
    auto sleeper = [&iterations]() -> corio::task<std::error_code> {
      for (int i = 0; i < 2000; ++i) {  // bounded: about 2 s of 1 ms ticks at most
        auto r = co_await corio::sleep_for(std::chrono::microseconds(50));
        if (!r) co_return r.error();
        iterations.fetch_add(1, std::memory_order_relaxed);
      }
      co_return std::error_code();
    };
    auto root = [&]() -> corio::task<std::error_code> {
      auto h = corio::spawn(sleeper());
      std::thread stopper([&h, &iterations, round] {
        const auto give_up = std::chrono::steady_clock::now() + 2s;
        while (iterations.load(std::memory_order_relaxed) < round % 4 &&
               std::chrono::steady_clock::now() < give_up) {
          std::this_thread::yield();
        }
        EXPECT_TRUE(h.request_stop());
      });
      auto ec = co_await h;
      stopper.join();
      co_return ec;
    };
    EXPECT_EQ(corio::block_on(root(), on(GetParam())), std::errc::operation_canceled)
        << "round " << round;
  }
}

// read(2) calls this thread made so far (/proc/thread-self/io's syscr), or -1 without it.
long long reads_so_far() {
  std::ifstream io("/proc/thread-self/io");
  std::string key;
  long long value = 0;
  while (io >> key >> value) {
    if (key == "syscr:") return value;
  }
  return -1;
}

// Per-socket readiness: a stream read that came back shorter than its buffer drained the
// socket, so the next read waits for the next edge instead of a read(2) that says EAGAIN. An
// echo of 64-byte messages in 4 KiB reads then costs one read per message on each end.
// With work queued the loop asks the reactor only every so many resumes (a system call per
// yield was most of a yield's cost), but it does ask: a task yielding in a loop cannot keep a
// socket's bytes, or a timer, from the tasks waiting on them.
TEST_P(executor_test, a_task_yielding_in_a_loop_does_not_starve_io_or_timers) {
  auto body = []() -> corio::task<int> {
    auto p = co_await corio::test::loopback_pair();
    if (!p) co_return -1;
    auto reader = corio::spawn([](corio::tcp_stream& s) -> corio::task<int> {
      std::array<std::byte, 16> buf{};
      auto n = co_await s.read(buf);  // nothing there yet: it waits for the reactor
      co_return n ? static_cast<int>(*n) : -1;
    }(p->server));
    auto sleeper = corio::spawn([]() -> corio::task<bool> {
      co_return static_cast<bool>(co_await corio::sleep_for(1ms));
    }());
    co_await corio::yield();  // the reader is suspended on the socket now
    std::array<std::byte, 3> out{};
    if (!co_await p->client.write_all(out)) co_return -2;
    // Bounded: the spinning stops after 100,000 yields whatever happens.
    int yields = 0;
    while (!reader.is_finished() && yields < 100'000) {
      co_await corio::yield();
      ++yields;
    }
    if (co_await reader != 3) co_return -3;
    const int after_read = yields;
    // The timer needs its millisecond to pass: bounded in time instead.
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (!sleeper.is_finished() && std::chrono::steady_clock::now() < give_up) {
      co_await corio::yield();
    }
    if (!sleeper.is_finished()) co_return -4;  // the timer never fired while we spun
    if (!co_await sleeper) co_return -5;
    // The reader's bytes came in within a couple of polling intervals.
    co_return after_read <= 200 ? 0 : after_read;
  };
  EXPECT_EQ(corio::block_on(body(), on(GetParam())), 0);
}

// How many times a task spinning on yield() goes round before a reader, whose bytes were written
// before the spin began, has them: `cap` when it still waits after that many. The spinner keeps
// a task ready, so the reactor that brings the bytes is asked only every resumes_per_io_poll
// resumes (one resume per turn here).
corio::task<int> yields_until_a_pending_read_completes(int cap) {
  auto p = co_await corio::test::loopback_pair();
  if (!p) co_return -1;
  auto reader = corio::spawn([](corio::tcp_stream& s) -> corio::task<int> {
    std::array<std::byte, 16> buf{};
    auto n = co_await s.read(buf);
    co_return n ? static_cast<int>(*n) : -1;
  }(p->server));
  co_await corio::yield();  // the reader is suspended on the socket now
  // The system call itself, not an awaited write: on a completion backend that would wait in
  // the kernel, and the reader's bytes would come in during that wait, before the spin.
  const std::array<std::byte, 3> out{};
  auto sent = p->client.raw().write(out);
  if (!sent || *sent != out.size()) co_return -2;
  int yields = 0;
  while (!reader.is_finished() && yields < cap) {
    co_await corio::yield();
    ++yields;
  }
  // Nothing else is ready while this waits: the reactor is asked and the read completes.
  if (co_await reader != 3) co_return -3;
  co_return yields;
}

corio::runtime_options polling_every(corio::backend_kind kind, std::uint32_t resumes) {
  auto o = on(kind);
  o.resumes_per_io_poll = resumes;
  return o;
}

// 1 asks the kernel every turn: the bytes are in within a turn or two (a completion backend
// submits the read in one wait and reaps it in the next). A bound far above the spin's length
// never asks while the spinner keeps a task ready. The default (61) would fail both checks.
constexpr int spin_cap = 1000;
constexpr int few_yields = 4;

TEST_P(executor_test, resumes_per_io_poll_sets_how_long_a_yielding_task_delays_io) {
  const int every_turn =
      corio::block_on(yields_until_a_pending_read_completes(spin_cap), polling_every(GetParam(), 1));
  EXPECT_GE(every_turn, 0);
  EXPECT_LE(every_turn, few_yields);
  const int zero = corio::block_on(yields_until_a_pending_read_completes(spin_cap),
                                   polling_every(GetParam(), 0));
  EXPECT_GE(zero, 0);
  EXPECT_LE(zero, few_yields) << "0 is taken as 1";
  EXPECT_EQ(corio::block_on(yields_until_a_pending_read_completes(spin_cap),
                            polling_every(GetParam(), 1'000'000)),
            spin_cap);
}

TEST_P(executor_test, runtime_workers_take_resumes_per_io_poll) {
  auto spin_on_a_worker = [&](std::uint32_t resumes) {
    auto o = polling_every(GetParam(), resumes);
    o.threads = 1;
    corio::runtime rt(o);
    return rt.run(yields_until_a_pending_read_completes(spin_cap));
  };
  const int every_turn = spin_on_a_worker(1);
  EXPECT_GE(every_turn, 0);
  EXPECT_LE(every_turn, few_yields);
  EXPECT_EQ(spin_on_a_worker(1'000'000), spin_cap);
}

TEST_P(executor_test, a_short_read_waits_for_the_next_edge_instead_of_reading_again) {
  if (GetParam() == corio::backend_kind::io_uring) GTEST_SKIP() << "readiness backends only";
  if (reads_so_far() < 0) GTEST_SKIP() << "no /proc/thread-self/io";
  constexpr int messages = 200;
  auto body = []() -> corio::task<long long> {
    auto p = co_await corio::test::loopback_pair();
    if (!p) co_return -1;
    auto* client = &p->client;
    auto server = corio::spawn([](corio::tcp_stream s) -> corio::task<> {
      std::array<std::byte, 4096> buf{};
      while (true) {
        auto n = co_await s.read(buf);
        if (!n || *n == 0) co_return;
        if (!co_await s.write_all(std::span(buf).first(*n))) co_return;
      }
    }(std::move(p->server)));
    std::array<std::byte, 64> out{};
    std::array<std::byte, 4096> in{};
    const long long before = reads_so_far();
    for (int i = 0; i < messages; ++i) {
      out[0] = static_cast<std::byte>(i);
      if (!co_await client->write_all(out)) co_return -1;
      std::size_t got = 0;
      while (got < out.size()) {  // loopback delivers the 64 bytes whole; this is for safety
        auto n = co_await client->read(std::span(in).subspan(got));
        if (!n || *n == 0) co_return -1;
        got += *n;
      }
      if (in[0] != out[0]) co_return -1;
    }
    const long long reads = reads_so_far() - before;
    client->close();
    co_await server;
    co_return reads;
  };
  const long long reads = corio::block_on(body(), on(GetParam()));
  ASSERT_GE(reads, 0);
  EXPECT_GE(reads, 2 * messages) << "fewer reads than messages read: the count is wrong";
  // Without per-socket readiness each end also reads once more to see EAGAIN: 4 per message.
  EXPECT_LE(reads, 2 * messages + messages / 10) << "reads that could only say EAGAIN";
}

// The edge that said "data and the peer's FIN" was taken by a reactor wait before the read that
// returned the data, short: the hang-up is sticky, so the next read still sees end of stream
// (no further edge would ever come for it).
TEST_P(executor_test, end_of_stream_after_a_short_read_is_not_lost) {
  auto body = []() -> corio::task<int> {
    auto pair = co_await corio::test::loopback_pair();
    if (!pair) co_return -1;
    auto* client = &pair->client;
    corio::tcp_stream& server = pair->server;
    std::array<std::byte, 10> out{};
    if (!co_await client->write_all(out) || !client->shutdown_write()) co_return -2;
    // Bounded: until the kernel shows both, then enough turns that a reactor wait takes the
    // edge (with work queued, the loop asks the reactor at least every 61 resumes).
    pollfd p{server.raw().native_handle(), POLLRDHUP, 0};
    for (int i = 0; i < 10'000 && !(p.revents & POLLRDHUP); ++i) {
      co_await corio::yield();
      (void)::poll(&p, 1, 0);
    }
    for (int i = 0; i < 64; ++i) co_await corio::yield();
    auto reader = corio::spawn([](corio::tcp_stream& s) -> corio::task<int> {
      std::array<std::byte, 4096> buf{};
      auto n = co_await s.read(buf);  // the 10 bytes: a short read
      if (!n || *n != 10) co_return -3;
      auto eof = co_await s.read(buf);
      co_return eof && *eof == 0 ? 0 : -4;
    }(server));
    for (int i = 0; i < 400 && !reader.is_finished(); ++i) (void)co_await corio::sleep_for(5ms);
    if (!reader.is_finished()) {
      reader.request_stop();  // so the test ends: the read waited for an edge that never comes
      (void)co_await reader;
      co_return -5;
    }
    co_return co_await reader;
  };
  EXPECT_EQ(corio::block_on(body(), on(GetParam())), 0);
}

TEST_P(executor_test, cancellation_reaches_operations_in_awaited_subtasks) {
  auto leaf = []() -> corio::task<std::error_code> {
    auto r = co_await corio::sleep_for(1h);
    co_return r.error();
  };
  auto middle = [&]() -> corio::task<std::error_code> { co_return co_await leaf(); };
  auto root = [&]() -> corio::task<std::error_code> {
    auto h = corio::spawn(middle());
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    h.request_stop();
    co_return co_await h;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), std::errc::operation_canceled);
}

TEST_P(executor_test, stop_requested_before_the_operation_cancels_it_at_once) {
  auto task_body = []() -> corio::task<int> {
    int canceled = 0;
    for (int i = 0; i < 3; ++i) {
      auto r = co_await corio::sleep_for(1h);
      if (r.error() == std::errc::operation_canceled) ++canceled;
    }
    co_return canceled;
  };
  auto root = [&]() -> corio::task<int> {
    auto h = corio::spawn(task_body());
    h.request_stop();  // before it even started
    co_return co_await h;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), 3);
}

TEST_P(executor_test, a_stopped_task_sleeping_for_nothing_is_cancelled_too) {
  auto body = []() -> corio::task<std::error_code> {
    co_await corio::yield();  // the stop request comes in here
    auto zero = co_await corio::sleep_for(0ms);
    co_return zero.error();
  };
  auto root = [&]() -> corio::task<std::error_code> {
    auto h = corio::spawn(body());
    h.request_stop();
    co_return co_await h;
  };
  EXPECT_EQ(corio::block_on(root(), on(GetParam())), std::errc::operation_canceled);
}

TEST_P(executor_test, a_zero_sleep_completes_without_suspending) {
  auto body = []() -> corio::task<bool> {
    auto r = co_await corio::sleep_for(0ms);
    co_return r.has_value();
  };
  EXPECT_TRUE(corio::block_on(body(), on(GetParam())));
}

TEST_P(executor_test, tasks_left_running_are_destroyed_when_block_on_returns) {
  counted::reset_counts();
  auto forever = []() -> corio::task<> {
    counted keep;
    (void)co_await corio::sleep_for(1h);  // never resumes: destroyed at shutdown
  };
  auto root = [&]() -> corio::task<> {
    corio::spawn(forever()).detach();
    corio::spawn(forever()).detach();
    (void)co_await corio::sleep_for(1ms);  // nothing stops this task
    EXPECT_EQ(counted::alive(), 2);
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_EQ(counted::alive(), 0) << "frames of unfinished tasks must be destroyed";
}

TEST_P(executor_test, a_join_handle_outliving_its_executor_reports_cancellation) {
  auto forever = []() -> corio::task<int> {
    (void)co_await corio::sleep_for(1h);  // never resumes: destroyed at shutdown
    co_return 1;
  };
  std::optional<corio::join_handle<int>> escaped;
  auto root = [&]() -> corio::task<> {
    escaped.emplace(corio::spawn(forever()));
    co_return;
  };
  corio::block_on(root(), on(GetParam()));
  ASSERT_TRUE(escaped.has_value());
  EXPECT_TRUE(escaped->is_finished());
  auto join_it = [&]() -> corio::task<int> { co_return co_await *escaped; };
  EXPECT_THROW(corio::block_on(join_it(), on(GetParam())), std::system_error);
}

TEST_P(executor_test, many_spawned_tasks_all_complete) {
  int done = 0;
  auto worker = [&](int i) -> corio::task<> {
    (void)co_await corio::sleep_for(std::chrono::milliseconds(i % 3));  // nothing stops this task
    ++done;
  };
  auto root = [&]() -> corio::task<> {
    std::vector<corio::join_handle<>> handles;
    for (int i = 0; i < 10000; ++i) handles.push_back(corio::spawn(worker(i)));
    for (auto& h : handles) co_await h;
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_EQ(done, 10000);
}

// A spawned frame and its join state share one frame-pool block (runtime.hpp): the task's
// frame goes when it ends, the block when the last of the frame and the handle lets go.
std::size_t frames_made(const corio::detail::frame_pool_counters& c) noexcept {
  return c.pooled_allocations + c.system_allocations;
}

[[gnu::noinline]] corio::task<counted> hand_back(counted c) { co_return c; }

TEST_P(executor_test, a_finished_tasks_result_stays_with_its_handle_until_the_handle_goes) {
  counted::reset_counts();
  using corio::detail::frame_pool_stats;
  auto root = [&]() -> corio::task<> {
    const auto before = frame_pool_stats();
    {
      auto h = corio::spawn(hand_back(counted{}));
      for (int i = 0; i < 100 && !h.is_finished(); ++i) co_await corio::yield();
      EXPECT_TRUE(h.is_finished());
      const auto finished = frame_pool_stats();
      // Two blocks: the task's frame, and the spawned frame with its join state.
      EXPECT_EQ(frames_made(finished) - frames_made(before), 2u);
      // Only the task's frame is back (its parameter destroyed): the result is in the block.
      EXPECT_EQ(finished.deallocations - before.deallocations, 1u);
      EXPECT_EQ(counted::alive(), 1);
    }  // dropped unawaited: the result goes with the block
    const auto after = frame_pool_stats();
    EXPECT_EQ(after.deallocations - before.deallocations, 2u);
    EXPECT_EQ(counted::alive(), 0);
  };
  corio::block_on(root(), on(GetParam()));
}

TEST_P(executor_test, a_task_detached_while_running_frees_its_block_when_it_ends) {
  counted::reset_counts();
  using corio::detail::frame_pool_stats;
  auto root = [&]() -> corio::task<> {
    const auto before = frame_pool_stats();
    auto slow = []() -> corio::task<counted> {
      co_await corio::yield();
      co_return counted{};
    };
    auto h = corio::spawn(slow());
    h.detach();
    EXPECT_EQ(frame_pool_stats().deallocations, before.deallocations);  // still running
    for (int i = 0; i < 100 && frame_pool_stats().deallocations - before.deallocations < 2; ++i) {
      co_await corio::yield();
    }
    const auto after = frame_pool_stats();
    EXPECT_EQ(frames_made(after) - frames_made(before), 2u);
    EXPECT_EQ(after.deallocations - before.deallocations, 2u);
    EXPECT_EQ(counted::alive(), 0);
    // Awaited the usual way, the value still comes through.
    auto again = corio::spawn(hand_back(counted{}));
    EXPECT_GE((co_await again).id, 0);
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_EQ(counted::alive(), 0);
}

TEST_P(executor_test, a_handle_kept_past_executor_shutdown_frees_the_destroyed_tasks_block) {
  counted::reset_counts();
  using corio::detail::frame_pool_stats;
  auto forever = [](counted c) -> corio::task<counted> {
    (void)co_await corio::sleep_for(1h);  // never resumes: destroyed at shutdown
    co_return c;
  };
  std::optional<corio::join_handle<counted>> kept;
  auto root = [&]() -> corio::task<> {
    kept.emplace(corio::spawn(forever(counted{})));
    co_return;
  };
  corio::block_on(root(), on(GetParam()));
  EXPECT_EQ(counted::alive(), 0);  // the frame's parameter, destroyed at shutdown
  ASSERT_TRUE(kept->is_finished());
  EXPECT_THROW((void)kept->join(), std::system_error);
  const auto held = frame_pool_stats().deallocations;
  kept.reset();
  EXPECT_EQ(frame_pool_stats().deallocations, held + 1) << "the handle lets go of the block";
}

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(backends, executor_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
