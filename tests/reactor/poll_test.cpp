// corio::poll and registry, run once per built backend.
#include <corio/reactor.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;

// A non-blocking pipe that closes itself.
struct test_pipe {
  int r = -1;
  int w = -1;
  test_pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
  }
  test_pipe(const test_pipe&) = delete;
  test_pipe& operator=(const test_pipe&) = delete;
  ~test_pipe() {
    ::close(r);
    ::close(w);
  }
  void put() const { ASSERT_EQ(::write(w, "x", 1), 1); }
  void drain() const {
    char buf[256];
    while (::read(r, buf, sizeof buf) > 0) {
    }
  }
};

class poll_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  void SetUp() override {
    auto p = corio::poll::create(GetParam());
    ASSERT_TRUE(p) << p.error().message();
    poll_.emplace(std::move(*p));
  }
  corio::poll& p() { return *poll_; }
  corio::registry& reg() { return poll_->registry(); }
  // A bounded wait that must produce events (generous so a loaded machine does not flake).
  void wait_some(corio::events& evs) { ASSERT_TRUE(p().wait(evs, 5s)); }
  // Returns whatever is ready now, waiting 10 ms for it (no event is expected to be late).
  void wait_short(corio::events& evs) { ASSERT_TRUE(p().wait(evs, 10ms)); }

  std::optional<corio::poll> poll_;
};

TEST_P(poll_test, reports_the_backend_it_was_created_with) { EXPECT_EQ(p().kind(), GetParam()); }

TEST_P(poll_test, pipe_becomes_readable) {
  test_pipe pp;
  ASSERT_TRUE(reg().add(pp.r, corio::token{7}, corio::interest::readable));
  pp.put();
  corio::events evs(16);
  wait_some(evs);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token(), corio::token{7});
  EXPECT_TRUE(evs[0].is_readable());
  EXPECT_FALSE(evs[0].is_writable());
}

TEST_P(poll_test, edge_triggered_no_second_event_without_new_data) {
  test_pipe pp;
  ASSERT_TRUE(reg().add(pp.r, corio::token{1}, corio::interest::readable));
  pp.put();
  corio::events evs(16);
  wait_some(evs);
  ASSERT_EQ(evs.size(), 1u);
  // Data is still unread, but the edge was reported: nothing more.
  wait_short(evs);
  EXPECT_TRUE(evs.empty());
  // Drain, then new data: a new edge.
  pp.drain();
  pp.put();
  wait_some(evs);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token(), corio::token{1});
}

TEST_P(poll_test, modify_changes_interest_from_readable_to_writable) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(::write(sv[1], "x", 1), 1);  // sv[0] is readable and writable
  ASSERT_TRUE(reg().add(sv[0], corio::token{3}, corio::interest::readable));
  corio::events evs(16);
  wait_some(evs);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].is_readable());
  EXPECT_FALSE(evs[0].is_writable());

  ASSERT_TRUE(reg().modify(sv[0], corio::token{4}, corio::interest::writable));
  wait_some(evs);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token(), corio::token{4});
  EXPECT_TRUE(evs[0].is_writable());
  EXPECT_FALSE(evs[0].is_readable());
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_P(poll_test, remove_stops_events) {
  test_pipe pp;
  ASSERT_TRUE(reg().add(pp.r, corio::token{1}, corio::interest::readable));
  ASSERT_TRUE(reg().remove(pp.r));
  pp.put();
  corio::events evs(16);
  wait_short(evs);
  EXPECT_TRUE(evs.empty());
}

TEST_P(poll_test, peer_close_reports_read_closed) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_TRUE(reg().add(sv[0], corio::token{5}, corio::interest::readable));
  ::close(sv[1]);
  corio::events evs(16);
  wait_some(evs);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].is_read_closed());
  ::close(sv[0]);
}

TEST_P(poll_test, registering_a_closed_fd_fails_with_ebadf) {
  int closed_fd = -1;
  {
    test_pipe pp;
    closed_fd = pp.r;
  }
  const auto r = reg().add(closed_fd, corio::token{1}, corio::interest::readable);
  EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
}

TEST_P(poll_test, removing_an_unregistered_fd_fails_with_not_registered) {
  test_pipe pp;
  EXPECT_EQ(reg().remove(pp.r).error(), corio::error::not_registered);
}

TEST_P(poll_test, modifying_an_unregistered_fd_fails_with_not_registered) {
  test_pipe pp;
  EXPECT_EQ(reg().modify(pp.r, corio::token{1}, corio::interest::readable).error(),
            corio::error::not_registered);
}

TEST_P(poll_test, adding_twice_fails_with_already_registered) {
  test_pipe pp;
  ASSERT_TRUE(reg().add(pp.r, corio::token{1}, corio::interest::readable));
  EXPECT_EQ(reg().add(pp.r, corio::token{2}, corio::interest::readable).error(),
            corio::error::already_registered);
}

TEST_P(poll_test, a_regular_file_fails_with_eperm) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  const auto r = reg().add(::fileno(f), corio::token{1}, corio::interest::readable);
  EXPECT_EQ(r.error(), std::errc::operation_not_permitted);
  std::fclose(f);
}

TEST_P(poll_test, the_reserved_token_is_refused) {
  test_pipe pp;
  const corio::token reserved{~std::uint64_t{0}};
  EXPECT_EQ(reg().add(pp.r, reserved, corio::interest::readable).error(),
            corio::error::invalid_token);
  ASSERT_TRUE(reg().add(pp.r, corio::token{1}, corio::interest::readable));
  EXPECT_EQ(reg().modify(pp.r, reserved, corio::interest::readable).error(),
            corio::error::invalid_token);
}

TEST_P(poll_test, one_ms_timeout_returns_no_events_after_at_least_one_ms) {
  corio::events evs(16);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(p().wait(evs, 1ms));
  EXPECT_TRUE(evs.empty());
  // Also when an earlier test destroyed an io_uring ring on this thread: its exit task work
  // interrupts the next blocking wait, which must wait again for the time left.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1ms);
}

TEST_P(poll_test, one_ns_timeout_is_rounded_up_not_to_zero) {
  corio::events evs(16);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(p().wait(evs, 1ns));
  EXPECT_TRUE(evs.empty());
  // Rounded up to the backend's resolution (1 ms for epoll), never to a non-blocking poll.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1ns);
  if (p().kind() == corio::backend_kind::epoll) {
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1ms);
  }
}

TEST_P(poll_test, zero_timeout_returns_immediately_with_no_events) {
  corio::events evs(16);
  ASSERT_TRUE(p().wait(evs, 0ns));
  EXPECT_TRUE(evs.empty());
}

TEST_P(poll_test, events_capacity_bounds_the_batch) {
  std::array<test_pipe, 10> pipes;
  for (std::size_t i = 0; i < pipes.size(); ++i) {
    ASSERT_TRUE(reg().add(pipes[i].r, corio::token{i}, corio::interest::readable));
    pipes[i].put();
  }
  corio::events evs(4);
  std::set<std::uint64_t> seen;
  std::vector<std::size_t> batches;
  while (seen.size() < pipes.size()) {
    wait_some(evs);
    ASSERT_FALSE(evs.empty()) << "lost events after " << seen.size();
    batches.push_back(evs.size());
    for (const corio::event& e : evs) {
      EXPECT_TRUE(seen.insert(static_cast<std::uint64_t>(e.token())).second) << "duplicate";
    }
  }
  EXPECT_EQ(batches, (std::vector<std::size_t>{4, 4, 2}));
  wait_short(evs);
  EXPECT_TRUE(evs.empty());
}

TEST_P(poll_test, a_bigger_events_buffer_than_before_is_filled) {
  std::array<test_pipe, 3> pipes;
  for (std::size_t i = 0; i < pipes.size(); ++i) {
    ASSERT_TRUE(reg().add(pipes[i].r, corio::token{i}, corio::interest::readable));
    pipes[i].put();
  }
  corio::events big(5000);  // beyond the backend's preallocated batch
  wait_some(big);
  EXPECT_EQ(big.size(), 3u);
}

TEST_P(poll_test, moved_poll_keeps_its_registrations) {
  test_pipe pp;
  ASSERT_TRUE(reg().add(pp.r, corio::token{9}, corio::interest::readable));
  corio::poll moved = std::move(p());
  pp.put();
  corio::events evs(4);
  ASSERT_TRUE(moved.wait(evs, 5s));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].token(), corio::token{9});
  EXPECT_EQ(moved.registry().add(pp.r, corio::token{9}, corio::interest::readable).error(),
            corio::error::already_registered);
}

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(built, poll_test, ::testing::ValuesIn(corio::built_backends()),
                         backend_name);

// Backend-independent parts.

TEST(backend_kind, names_round_trip) {
  for (auto k : {corio::backend_kind::automatic, corio::backend_kind::epoll,
                 corio::backend_kind::io_uring, corio::backend_kind::kqueue}) {
    auto parsed = corio::parse_backend_kind(corio::to_string(k));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_EQ(corio::parse_backend_kind("automatic").value(), corio::backend_kind::automatic);
}

TEST(backend_kind, unknown_name_is_invalid_argument) {
  EXPECT_EQ(corio::parse_backend_kind("select").error(), std::errc::invalid_argument);
  EXPECT_EQ(corio::parse_backend_kind("").error(), std::errc::invalid_argument);
  EXPECT_EQ(corio::parse_backend_kind("EPOLL").error(), std::errc::invalid_argument);
}

TEST(backend_kind, env_variable_selects_the_backend) {
  ASSERT_EQ(::setenv("CORIO_BACKEND", "epoll", 1), 0);
  EXPECT_EQ(corio::backend_kind_from_env().value(), corio::backend_kind::epoll);
  ASSERT_EQ(::setenv("CORIO_BACKEND", "io_uring", 1), 0);
  EXPECT_EQ(corio::backend_kind_from_env().value(), corio::backend_kind::io_uring);
  ASSERT_EQ(::setenv("CORIO_BACKEND", "bogus", 1), 0);
  EXPECT_EQ(corio::backend_kind_from_env().error(), std::errc::invalid_argument);
  ASSERT_EQ(::setenv("CORIO_BACKEND", "", 1), 0);
  EXPECT_EQ(corio::backend_kind_from_env().value(), corio::backend_kind::automatic);
  ASSERT_EQ(::unsetenv("CORIO_BACKEND"), 0);
  EXPECT_EQ(corio::backend_kind_from_env().value(), corio::backend_kind::automatic);
}

TEST(built_backends, lists_epoll_on_linux) {
  const auto built = corio::built_backends();
  ASSERT_FALSE(built.empty());
  EXPECT_NE(std::find(built.begin(), built.end(), corio::backend_kind::epoll), built.end());
  EXPECT_EQ(std::find(built.begin(), built.end(), corio::backend_kind::automatic), built.end());
}

TEST(poll_create, automatic_picks_a_built_backend) {
  auto p = corio::poll::create();
  ASSERT_TRUE(p) << p.error().message();
  const auto built = corio::built_backends();
  EXPECT_NE(std::find(built.begin(), built.end(), p->kind()), built.end());
}

TEST(poll_create, io_uring_is_unavailable_while_not_built) {
  const auto built = corio::built_backends();
  if (std::find(built.begin(), built.end(), corio::backend_kind::io_uring) != built.end()) {
    GTEST_SKIP() << "io_uring is built";
  }
  EXPECT_EQ(corio::poll::create(corio::backend_kind::io_uring).error(),
            corio::error::backend_unavailable);
}

TEST(poll_create, kqueue_is_unavailable_on_linux) {
  EXPECT_EQ(corio::poll::create(corio::backend_kind::kqueue).error(),
            corio::error::backend_unavailable);
}

}  // namespace
