// corio::signal_set on every built backend. Signals come from raise(), which runs the handler
// on this thread before it returns, so a record is in the pipe by the time raise() returns.
// A signal is raised only while some set watches it (SIGUSR1's default action ends the process).
#include <corio/signal_set.hpp>

#include <corio/runtime.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <system_error>

namespace {

using namespace std::chrono_literals;
using corio::result;
using corio::signal_info;
using corio::task;

class signal_set_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  corio::runtime_options options() const { return {GetParam()}; }
};

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

TEST_P(signal_set_test, wait_returns_a_signal_raised_before_it) {
  auto body = []() -> task<> {
    corio::signal_set sigs;
    EXPECT_TRUE(sigs.add(SIGUSR1));
    std::raise(SIGUSR1);
    result<signal_info> s = co_await sigs.wait();
    EXPECT_TRUE(s);
    if (!s) co_return;
    EXPECT_EQ(s->signo, SIGUSR1);
    EXPECT_EQ(s->sender_pid, ::getpid());
  };
  corio::block_on(body(), options());
}

task<int> wait_one(corio::signal_set& sigs) {
  result<signal_info> s = co_await sigs.wait();
  co_return s ? s->signo : -1;
}

// Runs after the waiters in the same when_all: they have drained an empty pipe and suspended.
task<> raise_now(int signo) {
  std::raise(signo);
  co_return;
}

TEST_P(signal_set_test, a_pending_wait_wakes_on_the_signal) {
  auto body = []() -> task<> {
    corio::signal_set sigs;
    EXPECT_TRUE(sigs.add(SIGUSR2));
    auto [got, none] = co_await corio::when_all(wait_one(sigs), raise_now(SIGUSR2));
    (void)none;
    EXPECT_EQ(got, SIGUSR2);
  };
  corio::block_on(body(), options());
}

TEST_P(signal_set_test, two_sets_watching_one_signal_both_get_it) {
  auto body = []() -> task<> {
    corio::signal_set a;
    corio::signal_set b;
    EXPECT_TRUE(a.add(SIGUSR1));
    EXPECT_TRUE(b.add(SIGUSR1));
    EXPECT_TRUE(b.add(SIGUSR2));
    auto [from_a, from_b, none] =
        co_await corio::when_all(wait_one(a), wait_one(b), raise_now(SIGUSR1));
    (void)none;
    EXPECT_EQ(from_a, SIGUSR1);
    EXPECT_EQ(from_b, SIGUSR1);
  };
  corio::block_on(body(), options());
}

TEST_P(signal_set_test, a_pending_wait_is_cancellable_and_the_set_stays_usable) {
  auto body = []() -> task<> {
    corio::signal_set sigs;
    EXPECT_TRUE(sigs.add(SIGUSR1));
    result<signal_info> late = co_await corio::timeout(10ms, sigs.wait());
    EXPECT_EQ(late.error(), std::errc::timed_out);
    // The cancelled wait left the registration free for the next one.
    auto [got, none] = co_await corio::when_all(wait_one(sigs), raise_now(SIGUSR1));
    (void)none;
    EXPECT_EQ(got, SIGUSR1);
  };
  corio::block_on(body(), options());
}

TEST_P(signal_set_test, stopping_the_waiting_task_cancels_the_wait) {
  auto body = []() -> task<> {
    corio::signal_set sigs;
    EXPECT_TRUE(sigs.add(SIGUSR1));
    auto first = co_await corio::when_any(wait_one(sigs), [](corio::signal_set&) -> task<int> {
      co_return 0;  // wins at once; the loser's pending wait is cancelled
    }(sigs));
    EXPECT_EQ(first.index, 1u);
  };
  corio::block_on(body(), options());
}

TEST_P(signal_set_test, records_queue_up_and_come_one_per_wait) {
  auto body = []() -> task<> {
    corio::signal_set sigs;
    EXPECT_TRUE(sigs.add(SIGUSR1));
    EXPECT_TRUE(sigs.add(SIGUSR2));
    std::raise(SIGUSR1);
    std::raise(SIGUSR2);
    result<signal_info> first = co_await sigs.wait();
    result<signal_info> second = co_await sigs.wait();
    EXPECT_TRUE(first && second);
    if (first && second) {
      EXPECT_EQ(first->signo, SIGUSR1);
      EXPECT_EQ(second->signo, SIGUSR2);
    }
  };
  corio::block_on(body(), options());
}

TEST_P(signal_set_test, misuse_is_reported) {
  auto body = []() -> task<> {
    corio::signal_set empty;
    result<signal_info> r = co_await empty.wait();
    EXPECT_EQ(r.error(), corio::error::not_registered);
    corio::signal_set sigs;
    EXPECT_EQ(sigs.add(SIGKILL).error(), std::errc::invalid_argument);
    EXPECT_EQ(sigs.remove(SIGUSR1).error(), corio::error::not_registered);
  };
  corio::block_on(body(), options());
}

void previous_handler(int) {}

TEST(signal_set, destroying_the_last_watcher_restores_the_previous_disposition) {
  struct sigaction mine {};
  mine.sa_handler = previous_handler;
  sigemptyset(&mine.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &mine, nullptr), 0);
  {
    corio::signal_set a;
    corio::signal_set b;
    ASSERT_TRUE(a.add(SIGUSR2));
    ASSERT_TRUE(b.add(SIGUSR2));
    struct sigaction now {};
    ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &now), 0);
    EXPECT_NE(now.sa_handler, previous_handler);
  }
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, previous_handler);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGUSR2, &dfl, nullptr);
}

INSTANTIATE_TEST_SUITE_P(backends, signal_set_test,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
