// connect() over several addresses, Happy Eyeballs style (RFC 8305): the order, a refused
// address handing over at once, a silent one getting only the attempt delay, the last error,
// and a timeout cancelling every attempt. Loopback only, no name server: these run in every
// build, with or without the resolver.
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <corio/resolve.hpp>
#include <corio/runtime.hpp>
#include <corio/time.hpp>

#include "../net/support.hpp"

// CO_ASSERT_* for bodies that return a skip reason (empty: not skipped).
#define CO_ASSERT_OK_OR_SKIP(r)                                  \
  do {                                                           \
    if (!(r)) {                                                  \
      ADD_FAILURE() << #r " failed: " << (r).error().message(); \
      co_return std::string();                                   \
    }                                                            \
  } while (0)
#define CO_ASSERT_TRUE_OR_SKIP(cond)            \
  do {                                          \
    if (!(cond)) {                              \
      ADD_FAILURE() << "expected true: " #cond; \
      co_return std::string();                  \
    }                                           \
  } while (0)

namespace corio::test {
namespace {

using namespace std::chrono_literals;
using net::ip_address;
using net::socket_address;

std::vector<std::string> strings(const std::vector<socket_address>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) out.push_back(a.to_string());
  return out;
}

socket_address v4(std::uint8_t last, std::uint16_t port) {
  return {ip_address::v4({10, 0, 0, last}), port};
}
socket_address v6(std::uint8_t last, std::uint16_t port) {
  return {ip_address::v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last}), port};
}

TEST(connect_order, interleaves_families_v6_first_each_in_its_own_order) {
  EXPECT_EQ(strings(connect_order({v4(1, 1), v4(2, 1), v6(1, 1), v6(2, 1), v6(3, 1)})),
            (std::vector<std::string>{"[2001:db8::1]:1", "10.0.0.1:1", "[2001:db8::2]:1",
                                      "10.0.0.2:1", "[2001:db8::3]:1"}));
  EXPECT_EQ(strings(connect_order({v4(2, 1), v4(1, 1)})),
            (std::vector<std::string>{"10.0.0.2:1", "10.0.0.1:1"}));
  EXPECT_EQ(strings(connect_order({v6(2, 1), v6(1, 1)})),
            (std::vector<std::string>{"[2001:db8::2]:1", "[2001:db8::1]:1"}));
  EXPECT_TRUE(connect_order({}).empty());
}

class happy_eyeballs_test : public backend_test {};

using steady = std::chrono::steady_clock;

// A port on `ip` where nothing listens (bound, then closed): connecting is refused at once.
std::uint16_t closed_port(const ip_address& ip) {
  auto l = tcp_listener::bind({ip, 0});
  return l ? l->local_address().value().port() : 0;
}

// A listener whose accept queue is full (backlog 0, one connection never accepted): Linux
// drops further SYNs, so a connect to it stays pending, the closest loopback has to a silent
// address. Holds the filling connection.
struct silent_address {
  tcp_listener listener;
  tcp_stream filler;
  socket_address at;
};

task<result<silent_address>> make_silent(const ip_address& ip) {
  auto l = tcp_listener::bind({ip, 0}, 0);
  if (!l) co_return l.error();
  const auto at = l->local_address().value();
  auto filler = co_await tcp_stream::connect(at);
  if (!filler) co_return filler.error();
  co_return silent_address{std::move(*l), std::move(*filler), at};
}

const char* const kernel_accepted = "the kernel accepted past a full backlog: no silent address here";

// Whether the kernel answers a full accept queue with a reset instead of dropping the SYN.
bool aborts_on_overflow() {
  std::ifstream f("/proc/sys/net/ipv4/tcp_abort_on_overflow");
  int v = 0;
  return (f >> v) && v != 0;
}

TEST_P(happy_eyeballs_test, a_refused_address_hands_over_at_once_not_after_the_delay) {
  run([]() -> task<> {
    auto good = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK(good);
    const auto good_at = good->local_address().value();
    connect_options o;
    o.attempt_delay = 30s;  // were a failure to wait for it, the timeout below would end it
    const auto start = steady::now();
    std::vector<socket_address> addresses{
        socket_address(ip_address::loopback_v4(), closed_port(ip_address::loopback_v4())),
        good_at};
    auto s = co_await timeout(5s, connect(std::move(addresses), o));
    CO_ASSERT_OK(s);
    EXPECT_LT(steady::now() - start, 2s);
    EXPECT_EQ(s->peer_address().value(), good_at);
    auto accepted = co_await good->accept();
    EXPECT_TRUE(accepted);
  }());
}

TEST_P(happy_eyeballs_test, a_silent_address_costs_the_attempt_delay_then_the_next_wins) {
  if (aborts_on_overflow()) GTEST_SKIP() << "tcp_abort_on_overflow=1: no silent address";
  const std::string skip = run([]() -> task<std::string> {
    auto silent = co_await make_silent(ip_address::loopback_v4());
    CO_ASSERT_OK_OR_SKIP(silent);
    auto good = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK_OR_SKIP(good);
    const auto good_at = good->local_address().value();
    connect_options o;
    o.attempt_delay = 100ms;
    const auto start = steady::now();
    std::vector<socket_address> addresses{silent->at, good_at};
    auto s = co_await timeout(5s, connect(std::move(addresses), o));
    const auto took = steady::now() - start;
    CO_ASSERT_OK_OR_SKIP(s);
    if (s->peer_address().value() == silent->at) {
      co_return kernel_accepted;
    }
    EXPECT_EQ(s->peer_address().value(), good_at);
    EXPECT_GE(took, 100ms) << "the second attempt started before the delay";
    EXPECT_LT(took, 2s);
    auto accepted = co_await good->accept();
    EXPECT_TRUE(accepted);
    co_return std::string();
  }());
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST_P(happy_eyeballs_test, the_first_to_connect_wins_and_the_others_never_start) {
  run([]() -> task<> {
    auto first = tcp_listener::bind({ip_address::loopback_v4(), 0});
    auto second = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK(first);
    CO_ASSERT_OK(second);
    std::vector<socket_address> addresses{first->local_address().value(),
                                          second->local_address().value()};
    auto s = co_await connect(std::move(addresses));
    CO_ASSERT_OK(s);
    EXPECT_EQ(s->peer_address().value(), first->local_address().value());
  }());
}

// Default options through forwarding overloads: with default arguments, g++ 12 handed the
// coroutine a string pointing into this frame (a bad free, seen under ASan).
TEST_P(happy_eyeballs_test, default_options_from_inside_a_coroutine) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK(listener);
    const auto at = listener->local_address().value();
    auto by_text = co_await connect("127.0.0.1:" + std::to_string(at.port()));
    EXPECT_TRUE(by_text);
    auto by_host = co_await connect("127.0.0.1", at.port());
    EXPECT_TRUE(by_host);
    auto resolved = co_await resolve("127.0.0.1", at.port());
    CO_ASSERT_OK(resolved);
    EXPECT_EQ(strings(*resolved), std::vector<std::string>{at.to_string()});
  }());
}

TEST_P(happy_eyeballs_test, all_refused_gives_the_last_error) {
  run([]() -> task<> {
    const auto lo = ip_address::loopback_v4();
    std::vector<socket_address> addresses{socket_address(lo, closed_port(lo)),
                                          socket_address(lo, closed_port(lo))};
    auto s = co_await connect(std::move(addresses));
    CO_ASSERT_TRUE(!s);
    EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
    auto none = co_await connect(std::vector<socket_address>{});
    CO_ASSERT_TRUE(!none);
    EXPECT_EQ(none.error(), resolve_error::no_address);
  }());
}

TEST_P(happy_eyeballs_test, a_timeout_cancels_every_attempt) {
  if (aborts_on_overflow()) GTEST_SKIP() << "tcp_abort_on_overflow=1: no silent address";
  const std::string skip = run([]() -> task<std::string> {
    auto a = co_await make_silent(ip_address::loopback_v4());
    auto b = co_await make_silent(ip_address::loopback_v4());
    CO_ASSERT_OK_OR_SKIP(a);
    CO_ASSERT_OK_OR_SKIP(b);
    connect_options o;
    o.attempt_delay = 10ms;  // both attempts are running when the deadline passes
    const auto start = steady::now();
    std::vector<socket_address> addresses{a->at, b->at};
    auto s = co_await timeout(60ms, connect(std::move(addresses), o));
    const auto took = steady::now() - start;
    if (s) co_return kernel_accepted;
    EXPECT_EQ(s.error(), std::errc::timed_out) << s.error().message();
    EXPECT_GE(took, 60ms);
    EXPECT_LT(took, 2s);
    co_return std::string();
  }());
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST_P(happy_eyeballs_test, a_stopped_task_cancels_every_attempt) {
  if (aborts_on_overflow()) GTEST_SKIP() << "tcp_abort_on_overflow=1: no silent address";
  const std::string skip = run([]() -> task<std::string> {
    auto a = co_await make_silent(ip_address::loopback_v4());
    CO_ASSERT_OK_OR_SKIP(a);
    connect_options o;
    o.attempt_delay = 10s;
    std::vector<socket_address> addresses{a->at, a->at};
    auto h = spawn(connect(std::move(addresses), o));
    co_await yield();  // the first attempt is pending
    co_await yield();
    EXPECT_TRUE(h.request_stop());
    const bool ended = co_await finishes_within(h);
    CO_ASSERT_TRUE_OR_SKIP(ended);
    auto s = co_await h;
    if (s) co_return kernel_accepted;
    EXPECT_EQ(s.error(), std::errc::operation_canceled) << s.error().message();
    co_return std::string();
  }());
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST_P(happy_eyeballs_test, v6_first_then_v4) {
  auto probe = net::tcp_listener::bind({ip_address::loopback_v6(), 0});
  if (!probe) GTEST_SKIP() << "::1 unavailable: " << probe.error().message();
  run([]() -> task<> {
    auto good = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK(good);
    const auto good_at = good->local_address().value();
    const socket_address refused_v6(ip_address::loopback_v6(),
                                    closed_port(ip_address::loopback_v6()));
    const auto order = connect_order({good_at, refused_v6});
    EXPECT_EQ(strings(order), strings({refused_v6, good_at}));
    connect_options o;
    o.attempt_delay = 30s;
    auto s = co_await timeout(5s, connect(order, o));
    CO_ASSERT_OK(s);
    EXPECT_EQ(s->peer_address().value(), good_at);
  }());
}

CORIO_INSTANTIATE_BACKENDS(happy_eyeballs_test);

}  // namespace
}  // namespace corio::test
