// detail::signal_pipe: process signals as records on a pipe.
#include "driver/signals.hpp"

#include <corio/reactor.hpp>
#include <corio/signal.hpp>

#include <pthread.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using corio::detail::signal_pipe;

signal_pipe open_pipe() {
  auto p = signal_pipe::open();
  if (!p) throw std::system_error(p.error());
  return std::move(*p);
}

// Waits (bounded) until `pipe` has delivered a record of `signo`, through a corio::poll on its
// read_fd, and returns all records read meanwhile.
std::vector<corio::signal_info> collect(signal_pipe& pipe, int signo) {
  auto p = corio::poll::create().value();
  EXPECT_TRUE(p.registry().add(pipe.read_fd(), corio::token{1}, corio::interest::readable));
  std::vector<corio::signal_info> got;
  std::array<corio::signal_info, 8> buf{};
  corio::events evs(4);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    // Drain first: records may already be there before registration's first edge.
    const std::size_t n = pipe.drain(buf);
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    for (const auto& info : got) {
      if (info.signo == signo) return got;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "no record of " << corio::signal_name(signo);
      return got;
    }
    // The self-pipe's record ends the wait; an interrupted wait goes on by itself.
    EXPECT_TRUE(p.wait(evs, 1s));
  }
}

// Puts a known handler in place for the duration of a test and restores SIG_DFL after.
struct test_handler {
  static void handle(int /*signo*/) { called.store(true); }
  static inline std::atomic<bool> called{false};
  int signo;
  explicit test_handler(int s) : signo(s) {
    struct sigaction sa {};
    sa.sa_handler = &handle;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(::sigaction(signo, &sa, nullptr), 0);
  }
  test_handler(const test_handler&) = delete;
  test_handler& operator=(const test_handler&) = delete;
  ~test_handler() { ::signal(signo, SIG_DFL); }
  static bool is_current(int signo) {
    struct sigaction cur {};
    ::sigaction(signo, nullptr, &cur);
    return (cur.sa_flags & SA_SIGINFO) == 0 && cur.sa_handler == &handle;
  }
};

TEST(signal_pipe, raise_is_delivered_as_a_record_with_signo_and_sender) {
  test_handler guard(SIGUSR1);
  signal_pipe pipe = open_pipe();
  ASSERT_TRUE(pipe.watch(SIGUSR1));
  ASSERT_EQ(::raise(SIGUSR1), 0);  // delivered to this thread
  const auto got = collect(pipe, SIGUSR1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].signo, SIGUSR1);
  EXPECT_EQ(got[0].sender_pid, ::getpid());
  EXPECT_EQ(got[0].sender_uid, ::getuid());
  EXPECT_FALSE(test_handler::called.load());
}

TEST(signal_pipe, kill_from_another_thread_is_delivered_while_the_loop_waits) {
  test_handler guard(SIGUSR2);
  signal_pipe pipe = open_pipe();
  ASSERT_TRUE(pipe.watch(SIGUSR2));
  // The sender blocks SIGUSR2 so the process-directed signal lands on this (waiting) thread
  // and interrupts its epoll_wait: the wait must go on and report the self-pipe's record.
  std::thread sender([] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    EXPECT_EQ(::pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
    EXPECT_EQ(::kill(::getpid(), SIGUSR2), 0);
  });
  const auto got = collect(pipe, SIGUSR2);
  sender.join();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().signo, SIGUSR2);
  EXPECT_EQ(got.back().sender_pid, ::getpid());
}

TEST(signal_pipe, two_pipes_watching_the_same_signal_both_receive_it) {
  test_handler guard(SIGUSR1);
  signal_pipe a = open_pipe();
  signal_pipe b = open_pipe();
  ASSERT_TRUE(a.watch(SIGUSR1));
  ASSERT_TRUE(b.watch(SIGUSR1));
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(collect(a, SIGUSR1).size(), 1u);
  EXPECT_EQ(collect(b, SIGUSR1).size(), 1u);
}

TEST(signal_pipe, only_watched_signals_are_delivered_to_a_pipe) {
  test_handler guard1(SIGUSR1);
  test_handler guard2(SIGUSR2);
  signal_pipe a = open_pipe();
  signal_pipe b = open_pipe();
  ASSERT_TRUE(a.watch(SIGUSR1));
  ASSERT_TRUE(b.watch(SIGUSR2));
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);
  for (const auto& info : collect(a, SIGUSR1)) {
    EXPECT_EQ(info.signo, SIGUSR1);
  }
  for (const auto& info : collect(b, SIGUSR2)) {
    EXPECT_EQ(info.signo, SIGUSR2);
  }
}

TEST(signal_pipe, last_unwatch_restores_the_previous_disposition) {
  test_handler guard(SIGUSR1);
  signal_pipe a = open_pipe();
  signal_pipe b = open_pipe();
  ASSERT_TRUE(a.watch(SIGUSR1));
  ASSERT_TRUE(b.watch(SIGUSR1));
  EXPECT_FALSE(test_handler::is_current(SIGUSR1));
  ASSERT_TRUE(a.unwatch(SIGUSR1));
  EXPECT_FALSE(test_handler::is_current(SIGUSR1)) << "b still watches";
  ASSERT_TRUE(b.unwatch(SIGUSR1));
  EXPECT_TRUE(test_handler::is_current(SIGUSR1));
}

TEST(signal_pipe, destroying_a_pipe_unwatches_its_signals) {
  test_handler guard(SIGHUP);
  {
    signal_pipe pipe = open_pipe();
    ASSERT_TRUE(pipe.watch(SIGHUP));
    EXPECT_FALSE(test_handler::is_current(SIGHUP));
  }
  EXPECT_TRUE(test_handler::is_current(SIGHUP));
}

TEST(signal_pipe, watching_twice_needs_one_unwatch) {
  test_handler guard(SIGUSR2);
  signal_pipe pipe = open_pipe();
  ASSERT_TRUE(pipe.watch(SIGUSR2));
  ASSERT_TRUE(pipe.watch(SIGUSR2));
  ASSERT_TRUE(pipe.unwatch(SIGUSR2));
  EXPECT_TRUE(test_handler::is_current(SIGUSR2));
  EXPECT_EQ(pipe.unwatch(SIGUSR2).error(), corio::error::not_registered);
}

TEST(signal_pipe, moved_pipe_keeps_its_subscription) {
  test_handler guard(SIGUSR1);
  signal_pipe original = open_pipe();
  ASSERT_TRUE(original.watch(SIGUSR1));
  signal_pipe moved = std::move(original);
  EXPECT_EQ(original.read_fd(), -1);  // NOLINT(bugprone-use-after-move): documented state
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_EQ(collect(moved, SIGUSR1).size(), 1u);
}

TEST(signal_pipe, sigkill_sigstop_and_invalid_numbers_fail_with_einval) {
  signal_pipe pipe = open_pipe();
  for (int signo : {SIGKILL, SIGSTOP, 0, -1, 65, 1000}) {
    EXPECT_EQ(pipe.watch(signo).error(), std::errc::invalid_argument) << signo;
  }
}

TEST(signal_pipe, drain_stops_when_out_is_full) {
  test_handler g1(SIGUSR1);
  test_handler g2(SIGUSR2);
  test_handler g3(SIGHUP);
  signal_pipe pipe = open_pipe();
  for (int s : {SIGUSR1, SIGUSR2, SIGHUP}) {
    ASSERT_TRUE(pipe.watch(s));
  }
  for (int s : {SIGUSR1, SIGUSR2, SIGHUP}) {
    ASSERT_EQ(::raise(s), 0);  // distinct signals: the kernel cannot coalesce them
  }
  auto p = corio::poll::create().value();
  ASSERT_TRUE(p.registry().add(pipe.read_fd(), corio::token{1}, corio::interest::readable));
  std::array<corio::signal_info, 2> small{};
  std::size_t total = 0;
  corio::events evs(4);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (total < 3 && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = pipe.drain(small);
    EXPECT_LE(n, small.size());
    total += n;
    if (total < 3 && n < small.size()) {
      ASSERT_TRUE(p.wait(evs, 1s));  // the pipe is empty: wait for more
    }
  }
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(pipe.drain(small), 0u);
}

TEST(signal_pipe, empty_pipe_drains_nothing) {
  signal_pipe pipe = open_pipe();
  std::array<corio::signal_info, 4> buf{};
  EXPECT_EQ(pipe.drain(buf), 0u);
}

TEST(signal_name, names_common_signals) {
  EXPECT_EQ(corio::signal_name(SIGINT), "SIGINT");
  EXPECT_EQ(corio::signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(corio::signal_name(SIGCHLD), "SIGCHLD");
  EXPECT_EQ(corio::signal_name(0), "");
}

}  // namespace
