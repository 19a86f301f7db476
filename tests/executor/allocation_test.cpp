// The promise "no heap allocation per operation in steady state", proven: after a warm-up, an
// echo of 10,000 messages over 10 TCP connections, 10,000 sleeps and 10,000 channel messages
// make zero calls to the global operator new and (outside sanitizer builds, which own malloc)
// zero calls to malloc/calloc/realloc; so do 40 connections accepted and each served by a
// spawned task; and so do when_any, when_all, timeout/timeout_at and task_scope (their
// children's stop states live in the children's frames: no std::stop_source).
//
// This binary replaces the global allocation functions, so it has no other tests. Counting is
// per thread and only inside a window, so gtest's own allocations do not matter.
#include <corio/runtime.hpp>
#include <corio/scope.hpp>
#include <corio/sync/channel.hpp>
#include <corio/sync/event.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "support/sanitizers.hpp"

#include "support/allocation_counter.hpp"

namespace {

using namespace std::chrono_literals;
using corio::task;

constexpr int connections = 10;
constexpr int messages_per_connection = 1000;  // 10,000 echoed messages in all
constexpr int sleepers = 100;
constexpr int sleeps_per_sleeper = 100;        // 10,000 sleeps
constexpr int channel_messages = 10000;
constexpr int warm_up = 50;

struct window {
  window() {
    new_calls = malloc_calls = 0;
    counting = true;
  }
  ~window() { counting = false; }
};

task<> echo(corio::tcp_stream s) {
  std::array<std::byte, 256> buf{};
  while (true) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span(buf).first(*n))) co_return;
  }
}

task<> accept_all(corio::tcp_listener& listener, std::vector<corio::join_handle<>>& echoes) {
  for (int i = 0; i < connections; ++i) {
    auto accepted = co_await listener.accept();
    EXPECT_TRUE(accepted) << accepted.error().message();
    if (accepted) echoes.push_back(corio::spawn(echo(std::move(accepted->first))));
  }
}

task<int> client(corio::tcp_stream s, corio::manual_reset_event& go) {
  std::array<std::byte, 64> out{};
  std::array<std::byte, 64> in{};
  int echoed = 0;
  auto round = [&](int count) -> task<> {
    for (int i = 0; i < count; ++i) {
      out[0] = static_cast<std::byte>(i);
      if (!co_await s.write_all(out)) co_return;
      if (!co_await s.read_exact(in)) co_return;
      if (in == out) ++echoed;
    }
  };
  co_await round(warm_up);
  (void)co_await go.wait();
  echoed = 0;
  co_await round(messages_per_connection);
  (void)s.shutdown_write();
  co_return echoed;
}

task<int> sleeper(corio::manual_reset_event& go) {
  for (int i = 0; i < 2; ++i) (void)co_await corio::sleep_for(1ms);  // warm-up
  (void)co_await go.wait();
  int slept = 0;
  for (int i = 0; i < sleeps_per_sleeper; ++i) {
    if (co_await corio::sleep_for(1ms)) ++slept;
  }
  co_return slept;
}

task<int> consumer(corio::channel_receiver<int> rx) {
  int received = 0;
  while (auto v = co_await rx.recv()) ++received;
  co_return received;
}

task<> producer(corio::channel_sender<int> tx, corio::manual_reset_event& go) {
  for (int i = 0; i < warm_up; ++i) (void)co_await tx.send(i);
  (void)co_await go.wait();
  for (int i = 0; i < channel_messages; ++i) (void)co_await tx.send(i);
}

struct counts {
  std::size_t news = 0;
  std::size_t mallocs = 0;
  int echoed = 0;
  int slept = 0;
  int received = 0;
};

task<counts> scenario() {
  auto listener = corio::tcp_listener::bind(
      corio::net::socket_address(corio::net::ip_address::loopback_v4(), 0));
  if (!listener) throw std::system_error(listener.error());
  const auto at = listener->local_address().value();

  std::vector<corio::join_handle<>> echoes;
  echoes.reserve(connections);
  auto acceptor = corio::spawn(accept_all(*listener, echoes));
  corio::manual_reset_event go;
  std::vector<corio::join_handle<int>> clients;
  for (int i = 0; i < connections; ++i) {
    auto s = co_await corio::tcp_stream::connect(at);
    if (!s) throw std::system_error(s.error());
    clients.push_back(corio::spawn(client(std::move(*s), go)));
  }
  co_await acceptor;
  std::vector<corio::join_handle<int>> sleeping;
  for (int i = 0; i < sleepers; ++i) sleeping.push_back(corio::spawn(sleeper(go)));
  auto [tx, rx] = corio::make_channel<int>(64);
  auto receiving = corio::spawn(consumer(std::move(rx)));
  auto sending = corio::spawn(producer(std::move(tx), go));
  (void)co_await corio::sleep_for(20ms);  // nothing stops this task; every task is now parked on `go`, warmed up

  counts c;
  {
    window w;
    go.set();
    for (auto& h : clients) c.echoed += co_await h;
    for (auto& h : sleeping) c.slept += co_await h;
    co_await sending;  // its sender dies with it: the consumer then sees the channel closed
    c.received = co_await receiving - warm_up;
    c.news = new_calls;
    c.mallocs = malloc_calls;
  }
  for (auto& h : echoes) co_await h;
  co_return c;
}

class allocation : public ::testing::TestWithParam<corio::backend_kind> {};

TEST_P(allocation, steady_state_echo_sleep_and_channel_make_no_heap_allocations) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  corio::runtime_options o;
  o.backend = GetParam();
  const counts c = corio::block_on(scenario(), o);
  EXPECT_EQ(c.echoed, connections * messages_per_connection);
  EXPECT_EQ(c.slept, sleepers * sleeps_per_sleeper);
  EXPECT_EQ(c.received, channel_messages);
  EXPECT_EQ(c.news, 0u) << "global operator new calls in steady state";
  if (CORIO_TEST_CAN_REPLACE_MALLOC) {
    EXPECT_EQ(c.mallocs, 0u) << "malloc/calloc/realloc calls in steady state";
  }
}

// A connection accepted and served by a spawned task, once warmed up, allocates nothing: the
// task's frame, its join state and its stop state come from the frame pool, the socket's slot
// from the executor's free list. Counted on the thread that runs both ends.
constexpr int connections_in_window = 40;

task<bool> one_connection(corio::tcp_listener& listener, const corio::net::socket_address& at) {
  auto client = co_await corio::tcp_stream::connect(at);
  if (!client) co_return false;
  auto accepted = co_await listener.accept();
  if (!accepted) co_return false;
  auto served = corio::spawn(echo(std::move(accepted->first)));
  std::array<std::byte, 8> out{std::byte{1}, std::byte{2}};
  std::array<std::byte, 8> in{};
  const bool echoed = co_await client->write_all(out) && co_await client->read_exact(in) && in == out;
  client->close();
  co_await served;
  co_return echoed;
}

task<counts> accept_and_spawn() {
  auto listener = corio::tcp_listener::bind(
      corio::net::socket_address(corio::net::ip_address::loopback_v4(), 0));
  if (!listener) throw std::system_error(listener.error());
  const auto at = listener->local_address().value();
  counts c;
  for (int i = 0; i < 4; ++i) c.echoed += co_await one_connection(*listener, at) ? 1 : 0;  // warm-up
  {
    window w;
    c.echoed = 0;
    for (int i = 0; i < connections_in_window; ++i) {
      c.echoed += co_await one_connection(*listener, at) ? 1 : 0;
    }
    c.news = new_calls;
    c.mallocs = malloc_calls;
  }
  co_return c;
}

TEST_P(allocation, accepted_connection_served_by_a_spawned_task_makes_no_heap_allocations) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  corio::runtime_options o;
  o.backend = GetParam();
  const counts c = corio::block_on(accept_and_spawn(), o);
  EXPECT_EQ(c.echoed, connections_in_window);
  EXPECT_EQ(c.news, 0u) << "global operator new calls for " << connections_in_window
                        << " connections (spawn's stop state?)";
  if (CORIO_TEST_CAN_REPLACE_MALLOC) {
    EXPECT_EQ(c.mallocs, 0u) << "malloc/calloc/realloc calls for " << connections_in_window
                             << " connections";
  }
}

// The combinators in steady state. Each round: a select won by a ready message (the losing
// sleep cancelled), a select over tasks, timeouts that pass, expire and wrap a task, a scope's
// children taken as they finish, a when_all in a freshly spawned task (a new stop state each
// time), and a stopped task's select and scope (the stop forwarded to their children).
// Before, when_any and timeout each made a std::stop_source and a scope made one too: one heap
// allocation per call.
constexpr int combinator_rounds = 200;
constexpr int checks_per_round = 9;

task<int> yielded(int v) {
  co_await corio::yield();
  co_return v;
}

task<int> long_sleep() {
  auto r = co_await corio::sleep_for(30s);
  co_return r ? 1 : 0;
}

task<int> pair_sum() {
  auto [a, b] = co_await corio::when_all(yielded(1), yielded(2));
  co_return a + b;
}

task<int> stopped_select_and_scope(bool& waiting) {
  waiting = true;
  auto any = co_await corio::when_any(corio::sleep_for(30s), long_sleep());
  corio::task_scope<int> scope;
  scope.spawn(long_sleep());
  co_await scope.join();
  // The first child is a sleep cancelled by the stop: result<void> holding operation_canceled.
  co_return any.index == 0 && !std::get<0>(any.value) ? 1 : 0;
}

task<int> combinator_round(corio::channel_sender<int>& tx, corio::channel_receiver<int>& rx) {
  int ok = 0;
  if (!tx.try_send(1)) co_return 0;
  auto any = co_await corio::when_any(rx.recv(), corio::sleep_for(30s));
  ok += any.index == 0 && std::get<0>(any.value).value_or(0) == 1;
  auto any_task = co_await corio::when_any(long_sleep(), yielded(2));
  ok += any_task.index == 1 && std::get<1>(any_task.value) == 2;
  if (!tx.try_send(3)) co_return 0;
  auto received = co_await corio::timeout(30s, rx.recv());
  ok += received.value_or(0) == 3;
  auto expired = co_await corio::timeout_at(corio::now(), corio::sleep_for(30s));
  ok += !expired && expired.error() == std::errc::timed_out;
  auto wrapped = co_await corio::timeout(30s, yielded(4));
  ok += wrapped.value_or(0) == 4;
  {
    corio::task_scope<int> scope;
    for (int i = 0; i < 4; ++i) scope.spawn(yielded(i));
    int sum = 0;
    while (auto v = co_await scope.next()) sum += *v;
    co_await scope.join();
    ok += sum == 6;
  }
  ok += co_await corio::spawn(pair_sum()) == 3;
  bool waiting = false;
  auto stopped = corio::spawn(stopped_select_and_scope(waiting));
  // Bounded, and not `while (!waiting) co_await ...` followed by another co_await: clang 14
  // at -O2 crashes splitting that coroutine (llvm/llvm-project#54760).
  for (int i = 0; i < 1000 && !waiting; ++i) co_await corio::yield();
  co_await corio::yield();  // now suspended in the select
  ok += stopped.request_stop();
  ok += co_await stopped;
  co_return ok;
}

task<counts> combinators() {
  auto [tx, rx] = corio::make_channel<int>(4);
  counts c;
  for (int i = 0; i < 4; ++i) c.received += co_await combinator_round(tx, rx);  // warm-up
  {
    window w;
    c.received = 0;
    for (int i = 0; i < combinator_rounds; ++i) c.received += co_await combinator_round(tx, rx);
    c.news = new_calls;
    c.mallocs = malloc_calls;
  }
  co_return c;
}

TEST_P(allocation, when_any_timeout_and_task_scope_make_no_heap_allocations) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  corio::runtime_options o;
  o.backend = GetParam();
  const counts c = corio::block_on(combinators(), o);
  EXPECT_EQ(c.received, combinator_rounds * checks_per_round);
  EXPECT_EQ(c.news, 0u) << "global operator new calls in " << combinator_rounds
                        << " rounds (a std::stop_source?)";
  if (CORIO_TEST_CAN_REPLACE_MALLOC) {
    EXPECT_EQ(c.mallocs, 0u) << "malloc/calloc/realloc calls in " << combinator_rounds
                             << " rounds";
  }
}

TEST(allocation_counter, sees_allocations_it_should_count) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  std::size_t news = 0;
  std::size_t mallocs = 0;
  {
    window w;
    auto* volatile p = new int(1);
    delete p;
    void* volatile m = std::malloc(8);
    std::free(m);
    news = new_calls;
    mallocs = malloc_calls;
  }
  EXPECT_EQ(news, 1u);
  if (CORIO_TEST_CAN_REPLACE_MALLOC) {
    EXPECT_GE(mallocs, 2u) << "operator new's malloc and the direct one";
  }
}

std::string backend_name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(backends, allocation,
                         ::testing::ValuesIn(corio::built_backends().begin(),
                                             corio::built_backends().end()),
                         backend_name);

}  // namespace
