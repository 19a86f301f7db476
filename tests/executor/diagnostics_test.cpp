// corio/diagnostics.hpp: the stall watchdog names the task that holds a worker, the dump lists
// every task with its state, the metrics move, and a service stuck in user code still exits
// within 2 s of SIGTERM (a child process: the watchdog ends it with status 3).
//
// The stuck tasks spin on purpose, each bounded in time, and end as soon as the watchdog's
// report arrives (captured through the test sink), so no test waits on a sleep.
#include <corio/diagnostics.hpp>
#include <corio/runtime.hpp>
#include <corio/signal_set.hpp>
#include <corio/tcp.hpp>
#include <corio/sync/event.hpp>
#include <corio/time.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "executor/executor.hpp"
#include "net/support.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// The watchdog's reports, captured.
std::mutex reports_lock;
std::string reports;
std::atomic<int> report_count{0};

void capture(std::string_view text) {
  {
    std::lock_guard guard(reports_lock);
    reports.append(text);
  }
  report_count.fetch_add(1, std::memory_order_release);
}

std::string captured() {
  std::lock_guard guard(reports_lock);
  return reports;
}

class diagnostics : public corio::test::backend_test {
 protected:
  void SetUp() override {
    corio::test::backend_test::SetUp();
    {
      std::lock_guard guard(reports_lock);
      reports.clear();
    }
    report_count.store(0);
    corio::detail::set_diagnostics_sink(&capture);
  }
  void TearDown() override { corio::detail::set_diagnostics_sink(nullptr); }

  corio::runtime_options options(unsigned threads = 1) const {
    corio::runtime_options o;
    o.backend = GetParam();
    o.threads = threads;
    o.stall_threshold = 100ms;
    return o;
  }
};

std::string at_line(unsigned line) { return "diagnostics_test.cpp:" + std::to_string(line); }

unsigned stuck_suspend_line = 0;

// Spins (holding the worker) until the watchdog reported; false after 10 s without a report.
bool spin_until_reported() {
  const auto give_up = clock_type::now() + 10s;
  while (report_count.load(std::memory_order_acquire) == 0) {
    if (clock_type::now() > give_up) return false;
  }
  return true;
}

// Holds its worker until the watchdog reported (or 10 s passed: then the test fails).
corio::task<bool> hold_worker() {
  stuck_suspend_line = __LINE__ + 1;
  co_await corio::yield();
  co_return spin_until_reported();
}

TEST_P(diagnostics, stall_report_names_the_task_its_sites_and_the_worker) {
  unsigned spawn_line = 0;
  const bool reported = corio::block_on(
      [](unsigned& line) -> corio::task<bool> {
        line = __LINE__ + 1;
        auto h = corio::spawn(hold_worker());
        co_return co_await h;
      }(spawn_line),
      options());
  ASSERT_TRUE(reported) << "no stall report within 10 s";
  const std::string text = captured();
  EXPECT_NE(text.find("corio: stall: block_on executor"), std::string::npos) << text;
  EXPECT_NE(text.find("has not returned to its reactor for"), std::string::npos) << text;
  EXPECT_NE(text.find("task spawned at "), std::string::npos) << text;
  EXPECT_NE(text.find(at_line(spawn_line) + " in "), std::string::npos) << text;
  EXPECT_NE(text.find("running, last co_await "), std::string::npos) << text;
  EXPECT_NE(text.find(at_line(stuck_suspend_line) + "\n"), std::string::npos) << text;
}

corio::task<int> ends_at_once() { co_return 7; }

unsigned join_suspend_line = 0;

// Joins a task that ends on this thread (the join continues this task directly, with no trip
// through the executor), then holds the worker.
corio::task<bool> join_then_hold_worker() {
  auto h = corio::spawn(ends_at_once());
  join_suspend_line = __LINE__ + 1;
  const int v = co_await h;
  co_return v == 7 && spin_until_reported();
}

TEST_P(diagnostics, stall_after_a_join_continued_directly_names_the_joiner) {
  corio::runtime rt(options(1));
  const unsigned spawn_line = __LINE__ + 1;
  auto h = rt.spawn_on(0, join_then_hold_worker());
  ASSERT_TRUE(h.join()) << "no stall report within 10 s";
  const std::string text = captured();
  EXPECT_NE(text.find(at_line(spawn_line) + " in "), std::string::npos) << text;
  EXPECT_NE(text.find(": running, last co_await "), std::string::npos) << text;
  EXPECT_NE(text.find(at_line(join_suspend_line) + "\n"), std::string::npos) << text;
}

TEST_P(diagnostics, stall_on_a_runtime_worker_names_that_worker) {
  corio::runtime rt(options(2));
  const unsigned spawn_line = __LINE__ + 1;
  auto h = rt.spawn_on(1, hold_worker());
  ASSERT_TRUE(h.join()) << "no stall report within 10 s";
  const std::string text = captured();
  EXPECT_NE(text.find("worker 1 (thread"), std::string::npos) << text;
  EXPECT_NE(text.find(at_line(spawn_line) + " in "), std::string::npos) << text;
  EXPECT_NE(text.find(at_line(stuck_suspend_line) + "\n"), std::string::npos) << text;
}

// Thread names (lib/os/thread_name.hpp): what top -H, gdb and the bench's per-thread system
// call count go by.
std::string this_thread_name() {
  std::ifstream comm("/proc/self/task/" + std::to_string(::gettid()) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

corio::task<std::string> own_thread_name() { co_return this_thread_name(); }

TEST_P(diagnostics, runtime_threads_carry_their_role_in_their_names) {
  corio::runtime rt(options(2));
  EXPECT_EQ(rt.spawn_on(0, own_thread_name()).join(), "corio-worker-0");
  EXPECT_EQ(rt.spawn_on(1, own_thread_name()).join(), "corio-worker-1");
  // The watchdog runs while any executor exists (it was started by the first one ever).
  bool watchdog_named = false;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    watchdog_named = watchdog_named || name == "corio-watchdog";
  }
  EXPECT_TRUE(watchdog_named);
}

TEST_P(diagnostics, a_worker_that_keeps_turning_is_not_reported) {
  // 300 ms of short turns (each a yield) under a 100 ms threshold: no report.
  corio::block_on(
      []() -> corio::task<> {
        const auto until = clock_type::now() + 300ms;
        while (clock_type::now() < until) co_await corio::yield();
      }(),
      options());
  EXPECT_EQ(report_count.load(), 0) << captured();
}

// The co_await lines each task of the dump test last suspended at.
struct dump_lines {
  unsigned sleeper = 0, waiter = 0, joiner = 0, acceptor = 0;
};

// Whether the dump has a task line "...: <state> for ~N ms, last co_await <path>/<file>:<line>".
bool task_line(const std::string& dump, std::string_view state, unsigned line) {
  const std::string site = "/" + at_line(line) + "\n";
  for (std::size_t at = dump.find(site); at != std::string::npos; at = dump.find(site, at + 1)) {
    const std::size_t begin = dump.rfind('\n', at);
    const std::string_view task(dump.data() + begin, at - begin);
    const std::size_t s = task.find(": " + std::string(state) + " for ~");
    if (s == std::string_view::npos) continue;
    if (task.find(" ms, last co_await ", s) != std::string_view::npos) return true;
  }
  return false;
}

TEST_P(diagnostics, dump_lists_every_task_with_its_state) {
  dump_lines lines;
  const std::string text = corio::block_on(
      [](dump_lines& l) -> corio::task<std::string> {
        corio::manual_reset_event never;
        auto sleeper = corio::spawn([](dump_lines& l) -> corio::task<> {
          l.sleeper = __LINE__ + 1;
          (void)co_await corio::sleep_for(1h);
        }(l));
        auto waiter = corio::spawn(
            [](corio::manual_reset_event& e, dump_lines& l) -> corio::task<> {
              l.waiter = __LINE__ + 1;
              (void)co_await e.wait();
            }(never, l));
        auto joiner = corio::spawn([](corio::join_handle<>& s, dump_lines& l) -> corio::task<> {
          l.joiner = __LINE__ + 1;
          co_await s;
        }(sleeper, l));
        auto listener = corio::tcp_listener::bind({corio::net::ip_address::loopback_v4(), 0});
        EXPECT_TRUE(listener) << listener.error().message();
        if (!listener) co_return std::string();
        // Nobody connects: the accept waits on the reactor until the stop request.
        auto acceptor = corio::spawn([](corio::tcp_listener& at, dump_lines& l) -> corio::task<> {
          l.acceptor = __LINE__ + 1;
          (void)co_await at.accept();
        }(*listener, l));
        for (int i = 0; i < 3; ++i) co_await corio::yield();  // each has run to its wait
        std::string d = corio::dump();
        sleeper.request_stop();
        waiter.request_stop();
        acceptor.request_stop();
        co_await joiner;
        co_await waiter;
        co_await acceptor;
        co_return d;
      }(lines),
      options());
  EXPECT_NE(text.find("block_on executor"), std::string::npos) << text;
  EXPECT_TRUE(task_line(text, "waiting on a timer", lines.sleeper)) << text;
  EXPECT_TRUE(task_line(text, "waiting on a channel", lines.waiter)) << text;
  EXPECT_TRUE(task_line(text, "waiting on a join", lines.joiner)) << text;
  EXPECT_TRUE(task_line(text, "waiting on I/O", lines.acceptor)) << text;
  EXPECT_NE(text.find(": running, last co_await"), std::string::npos) << text;  // the dumper
  EXPECT_NE(text.find("tasks 5 spawned / 5 alive"), std::string::npos) << text;
}

// A task spawned and not yet run has no co_await to show.
TEST_P(diagnostics, dump_shows_a_task_that_has_not_started) {
  const std::string text = corio::block_on(
      []() -> corio::task<std::string> {
        auto later = corio::spawn([]() -> corio::task<> { co_return; }());
        std::string d = corio::dump();
        co_await later;
        co_return d;
      }(),
      options());
  EXPECT_NE(text.find(": not started for ~"), std::string::npos) << text;
  EXPECT_NE(text.find("last co_await (none yet)"), std::string::npos) << text;
}

TEST_P(diagnostics, metrics_count_turns_tasks_and_timers) {
  corio::runtime rt(options(2));
  const auto before = rt.metrics();
  ASSERT_EQ(before.size(), 2u);
  rt.block_on([]() -> corio::task<> {
    for (int i = 0; i < 3; ++i) (void)co_await corio::sleep_for(1ms);
    auto h = corio::spawn([]() -> corio::task<> { co_await corio::yield(); }());
    co_await h;
  }());
  const auto after = rt.metrics();
  ASSERT_EQ(after.size(), 2u);
  std::uint64_t turns = 0, spawned = 0, fired = 0, resumes = 0, remote = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(after[i].owner, &rt);
    turns += after[i].turns - before[i].turns;
    spawned += after[i].tasks_spawned - before[i].tasks_spawned;
    fired += after[i].timers_fired - before[i].timers_fired;
    resumes += after[i].resumes - before[i].resumes;
    remote += after[i].remote_runs - before[i].remote_runs;
  }
  EXPECT_GE(turns, 4u);
  EXPECT_EQ(spawned, 2u);  // block_on's task and the one it spawned
  EXPECT_GE(fired, 3u);
  EXPECT_GE(resumes, 5u);
  EXPECT_GE(remote, 1u);  // block_on's task arrives by the remote queue
  EXPECT_NE(rt.dump().find("worker 1"), std::string::npos);
}

CORIO_INSTANTIATE_BACKENDS(diagnostics);

// ---- SIGTERM with a task stuck in user code: the child process ------------------------------

// Spins for at most 20 s; only the watchdog's forced exit ends it sooner.
corio::task<> spin() {
  co_await corio::yield();
  const auto until = clock_type::now() + 20s;
  while (clock_type::now() < until) {
  }
}

corio::task<int> stuck_service(corio::runtime* rt) {
  corio::signal_set signals;
  if (!signals.add(SIGTERM)) co_return 1;
  // On one worker the stuck task shares the thread with this one; on two it takes worker 1
  // (this task runs on worker 0: the first spawn of a runtime goes there).
  auto stuck = rt ? rt->spawn_on(1, spin()) : corio::spawn(spin());
  std::puts("ready");
  std::fflush(stdout);
  (void)co_await signals.wait();
  stuck.request_stop();  // it never awaits again: only the deadline ends it
  co_await stuck;
  co_return 0;
}

// Run only by the child (the parent passes --gtest_also_run_disabled_tests).
TEST(diagnostics_child, DISABLED_stuck_service) {
  const char* backend = std::getenv("CORIO_TEST_BACKEND");
  const char* threads = std::getenv("CORIO_TEST_THREADS");
  ASSERT_TRUE(backend && threads);
  corio::runtime_options o;
  o.backend = std::string_view(backend) == "io_uring" ? corio::backend_kind::io_uring
                                                      : corio::backend_kind::epoll;
  o.threads = static_cast<unsigned>(std::atoi(threads));
  if (o.threads > 1) {
    corio::runtime rt(o);
    std::exit(rt.run(stuck_service(&rt)));
  }
  std::exit(corio::block_on(stuck_service(nullptr), o));
}

struct child_result {
  int status = -1;
  std::chrono::milliseconds after_signal{0};
  std::string err;
};

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return s;
    s.append(buf, static_cast<std::size_t>(n));
  }
}

// Runs the child service, waits for its "ready", sends SIGTERM, and times its exit (10 s bound).
child_result run_stuck_child(std::string_view backend, unsigned threads) {
  child_result out;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  env_store.push_back("CORIO_TEST_BACKEND=" + std::string(backend));
  env_store.push_back("CORIO_TEST_THREADS=" + std::to_string(threads));
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=diagnostics_child.DISABLED_stuck_service";
  std::string also = "--gtest_also_run_disabled_tests";
  std::string self = "/proc/self/exe";
  char* argv[] = {self.data(), filter.data(), also.data(), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) return out;

  // "ready" (gtest prints its own lines first), at most 10 s.
  std::string seen;
  const auto give_up = clock_type::now() + 10s;
  while (seen.find("ready\n") == std::string::npos && clock_type::now() < give_up) {
    pollfd p{out_pipe[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
  }
  const bool ready = seen.find("ready\n") != std::string::npos;
  const auto signalled = clock_type::now();
  ::kill(pid, ready ? SIGTERM : SIGKILL);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) == 0) ::kill(pid, SIGKILL);  // the test fails on the time below
    ::close(pidfd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.after_signal =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - signalled);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  out.err = read_all(err_pipe[0]);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (!ready) out.status = -2;
  return out;
}

class stuck_shutdown
    : public ::testing::TestWithParam<std::tuple<corio::backend_kind, unsigned>> {};

TEST_P(stuck_shutdown, sigterm_ends_the_process_within_2_s_with_status_3) {
  const auto [backend, threads] = GetParam();
  if (auto p = corio::poll::create(backend); !p && p.error() == corio::error::backend_unavailable) {
    GTEST_SKIP() << "kernel refuses " << corio::to_string(backend);
  }
  const child_result r = run_stuck_child(corio::to_string(backend), threads);
  ASSERT_NE(r.status, -2) << "the child never said ready; its stderr:\n" << r.err;
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_LT(r.after_signal, 2000ms) << r.err;
  EXPECT_NE(r.err.find("corio: stall:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("forcing exit with status 3"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    backends_and_threads, stuck_shutdown,
    ::testing::Combine(::testing::ValuesIn(corio::built_backends().begin(),
                                           corio::built_backends().end()),
                       ::testing::Values(1u, 2u)),
    [](const auto& info) {
      return std::string(corio::to_string(std::get<0>(info.param))) + "_threads" +
             std::to_string(std::get<1>(info.param));
    });

}  // namespace
