// "No heap allocation per operation in steady state" for the stream helpers: after a warm-up,
// lines written through a buffered_writer and read back through a buffered_reader, and bytes
// relayed by a running copy_bidirectional, make no call to the global operator new.
//
// This binary replaces the global operator new, so it has no other tests. Counting is per
// thread and only inside a window, so gtest's own allocations do not matter.
#include <cstdlib>
#include <new>
#include <string>

#include <corio/runtime.hpp>
#include <corio/stream.hpp>

#include "../net/support.hpp"
#include "../support/sanitizers.hpp"
#include "stream_pair.hpp"

#include "../support/allocation_counter.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;

class stream_allocation_test : public backend_test {
 protected:
  void SetUp() override {
    backend_test::SetUp();
    if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "operator new belongs to the sanitizer";
  }
};

// One round: a line through the writer, back through the reader.
task<bool> line_round(buffered_writer<tcp_stream>& out, buffered_reader<tcp_stream>& in) {
  if (!co_await out.write("a line of text, as a protocol would send it\n")) co_return false;
  if (!co_await out.flush()) co_return false;
  auto line = co_await in.read_line(128);
  co_return line && line->size() == 43;
}

TEST_P(stream_allocation_test, buffered_lines_allocate_nothing_per_line) {
  std::size_t calls = 0;
  int ok = 0;
  run([](std::size_t& calls, int& ok) -> task<> {
    auto p = co_await make_stream_pair();
    CO_ASSERT_OK(p);
    buffered_writer out(p->left);
    buffered_reader in(p->right);
    for (int i = 0; i < 200; ++i) {  // warm the frame pool
      co_await line_round(out, in);
      if (i % 64 == 0) co_await yield();
    }
    counting = true;
    for (int i = 0; i < 2000; ++i) {
      ok += co_await line_round(out, in) ? 1 : 0;
      // Rounds that complete at once nest their resumptions; without sibling-call
      // optimisation (sanitizer builds) that is stack, so unwind now and then.
      if (i % 64 == 0) co_await yield();
    }
    counting = false;
    calls = new_calls;
  }(calls, ok));
  EXPECT_EQ(ok, 2000);
  EXPECT_EQ(calls, 0u);
}

task<bool> relay_round(tcp_stream& client, tcp_stream& server) {
  std::array<std::byte, 100> msg{};
  if (!co_await client.write_all(msg)) co_return false;
  if (!co_await server.read_exact(msg)) co_return false;
  if (!co_await server.write_all(msg)) co_return false;
  co_return static_cast<bool>(co_await client.read_exact(msg));
}

TEST_P(stream_allocation_test, a_running_relay_allocates_nothing_per_message) {
  std::size_t calls = 0;
  int ok = 0;
  run([](std::size_t& calls, int& ok) -> task<> {
    auto front = co_await make_stream_pair();
    CO_ASSERT_OK(front);
    auto back = co_await make_stream_pair();
    CO_ASSERT_OK(back);
    // The idle timer is re-armed once per idle period; 10 s is longer than this test.
    auto relay = spawn(copy_bidirectional(front->right, back->left, {.idle_timeout = 10s}));
    for (int i = 0; i < 200; ++i) co_await relay_round(front->left, back->right);
    new_calls = 0;
    counting = true;
    for (int i = 0; i < 2000; ++i) {
      ok += co_await relay_round(front->left, back->right) ? 1 : 0;
      if (i % 64 == 0) co_await yield();  // see above
    }
    counting = false;
    calls = new_calls;
    (void)front->left.shutdown_write();
    (void)back->right.shutdown_write();
    auto counts = co_await relay;
    EXPECT_TRUE(counts);
  }(calls, ok));
  EXPECT_EQ(ok, 2000);
  EXPECT_EQ(calls, 0u);
}

CORIO_INSTANTIATE_BACKENDS(stream_allocation_test);

}  // namespace
}  // namespace corio::test
