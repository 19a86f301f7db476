// task<T> and the frame pool behind its promise. Tasks are driven without an executor by
// run_sync, which starts a task and insists it finished synchronously.
#include <corio/task.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "counted.hpp"
#include "support/sanitizers.hpp"

// ---- Global allocation counting ------------------------------------------------------------
// The test binary replaces the global operator new/delete. Only allocations made while the
// calling thread's counting_allocations is set are counted, so gtest's own allocations outside
// such a window do not matter. The frees of up to three watched addresses are counted from any
// thread (the thread-exit test watches a dying thread's retained frames).
namespace {
constinit thread_local bool counting_allocations = false;
constinit thread_local std::size_t global_allocations = 0;
std::array<std::atomic<void*>, 3> watched_blocks{};
std::atomic<int> watched_frees{0};

void note_free(void* p) noexcept {
  if (p == nullptr) return;
  for (auto& w : watched_blocks) {
    if (w.load(std::memory_order_relaxed) == p) watched_frees.fetch_add(1);
  }
}

// The helpers stay out of line: inlined into a caller that got the pointer from new[] (or
// new), g++'s -Wmismatched-new-delete would see that paired with free() or delete and warn.
[[gnu::noinline, maybe_unused]] void* allocate_block(std::size_t size) {
  if (counting_allocations) ++global_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline, maybe_unused]] void free_block(void* p) noexcept {
  note_free(p);
  std::free(p);
}
}  // namespace

#if CORIO_TEST_CAN_REPLACE_NEW
void* operator new(std::size_t size) { return allocate_block(size); }
void* operator new[](std::size_t size) { return allocate_block(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate_block(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t& nt) noexcept {
  return ::operator new(size, nt);
}
void operator delete(void* p) noexcept { free_block(p); }
void operator delete[](void* p) noexcept { free_block(p); }
void operator delete(void* p, std::size_t) noexcept { free_block(p); }
void operator delete[](void* p, std::size_t) noexcept { free_block(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free_block(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free_block(p); }
#endif

namespace {

using corio::task;
using corio::test::counted;
using corio::detail::frame_pool_stats;

// Counts global allocations made by this thread while it is alive.
class allocation_window {
 public:
  allocation_window() noexcept {
    global_allocations = 0;
    counting_allocations = true;
  }
  ~allocation_window() { counting_allocations = false; }
  allocation_window(const allocation_window&) = delete;
  allocation_window& operator=(const allocation_window&) = delete;
  std::size_t count() const noexcept { return global_allocations; }
};

// Starts `t` with no awaiter, the way the executor does, and returns its result. Throws if the
// task suspended instead of finishing: nothing in these tests waits on anything.
template <typename T>
T run_sync(task<T> t) {
  auto frame = t.release();
  struct destroy_frame {
    std::coroutine_handle<typename task<T>::promise_type> frame;
    ~destroy_frame() { frame.destroy(); }
  } guard{frame};
  frame.resume();
  if (!frame.done()) throw std::logic_error("task did not complete synchronously");
  return frame.promise().result();
}

task<int> forty_two() { co_return 42; }

task<> set_flag(bool& flag) {
  flag = true;
  co_return;
}

task<> await_flag_setter(bool& flag, bool& seen_before, bool& seen_after) {
  task<> inner = set_flag(flag);
  seen_before = flag;
  co_await std::move(inner);
  seen_after = flag;
}

TEST(task, body_does_not_run_until_started) {
  bool ran = false;
  task<> t = set_flag(ran);
  EXPECT_FALSE(ran);
  EXPECT_FALSE(t.done());
  run_sync(std::move(t));
  EXPECT_TRUE(ran);
}

TEST(task, awaiting_a_task_starts_it) {
  bool flag = false, before = true, after = false;
  run_sync(await_flag_setter(flag, before, after));
  EXPECT_FALSE(before);
  EXPECT_TRUE(after);
}

task<int> add_forty_two(int x) { co_return x + co_await forty_two(); }

TEST(task, value_result_reaches_awaiter) { EXPECT_EQ(run_sync(add_forty_two(8)), 50); }

task<std::pair<int, std::string>> braced() { co_return {3, "x"}; }

TEST(task, co_return_braced_list_builds_the_result) {
  EXPECT_EQ(run_sync(braced()), std::make_pair(3, std::string("x")));
}

task<int&> pick(int& a, int& b, bool first) { co_return first ? a : b; }

task<int*> address_through_await(int& a, int& b) {
  int& r = co_await pick(a, b, false);
  co_return &r;
}

TEST(task, reference_result_refers_to_the_returned_object) {
  int a = 1, b = 2;
  EXPECT_EQ(run_sync(address_through_await(a, b)), &b);
  EXPECT_EQ(&run_sync(pick(a, b, true)), &a);
}

task<std::unique_ptr<int>> make_unique_int(int v) {
  auto p = std::make_unique<int>(v);
  co_return p;  // implicitly moved
}

task<int> unwrap_unique() {
  std::unique_ptr<int> p = co_await make_unique_int(7);
  co_return *p;
}

TEST(task, move_only_result_is_moved_to_awaiter) {
  EXPECT_EQ(run_sync(unwrap_unique()), 7);
  EXPECT_EQ(*run_sync(make_unique_int(9)), 9);
}

task<int> throws_after_start() {
  throw std::runtime_error("boom");
  co_return 1;
}

task<> throws_void() {
  throw std::runtime_error("void boom");
  co_return;
}

task<std::string> catch_from_child() {
  try {
    (void)co_await throws_after_start();
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "not thrown";
}

TEST(task, exception_in_body_is_rethrown_to_awaiter) {
  EXPECT_EQ(run_sync(catch_from_child()), "boom");
}

TEST(task, exception_reaches_the_owner_of_a_released_frame) {
  EXPECT_THROW(run_sync(throws_after_start()), std::runtime_error);
  EXPECT_THROW(run_sync(throws_void()), std::runtime_error);
}

task<counted> make_counted() { co_return counted{}; }

task<int> consume_counted() {
  counted c = co_await make_counted();
  co_return c.id;
}

TEST(task, result_value_is_destroyed_exactly_once) {
  counted::reset_counts();
  EXPECT_EQ(run_sync(consume_counted()), 0);
  EXPECT_EQ(counted::default_constructions, 1);
  EXPECT_EQ(counted::copy_constructions, 0);
  EXPECT_EQ(counted::alive(), 0);
}

// Tests that count frames keep the coroutine out of line: clang may otherwise elide the frame
// allocation of a task created and destroyed in one function (HALO), which is correct but
// leaves nothing to count.
[[gnu::noinline]] task<int> take_counted(counted c) { co_return c.id; }

TEST(task, frame_and_its_parameters_are_destroyed_exactly_once) {
  counted::reset_counts();
  const auto before = frame_pool_stats();
  {
    task<int> t = take_counted(counted{});
    EXPECT_EQ(counted::alive(), 1);  // the parameter copy in the frame
    EXPECT_EQ(run_sync(std::move(t)), 0);
  }
  const auto after = frame_pool_stats();
  EXPECT_EQ(counted::alive(), 0);
  EXPECT_EQ(after.deallocations - before.deallocations, 1u);
}

[[gnu::noinline]] task<> must_not_run(counted c, bool& ran) {
  ran = true;
  (void)c;
  co_return;
}

TEST(task, destroying_an_unstarted_task_runs_no_body_and_frees_its_frame) {
  counted::reset_counts();
  bool ran = false;
  const auto before = frame_pool_stats();
  { task<> t = must_not_run(counted{}, ran); }
  const auto after = frame_pool_stats();
  EXPECT_FALSE(ran);
  EXPECT_EQ(counted::alive(), 0);
  EXPECT_EQ(after.deallocations - before.deallocations, 1u);
  EXPECT_EQ(after.pooled_allocations + after.system_allocations -
                before.pooled_allocations - before.system_allocations,
            1u);
}

TEST(task, move_assignment_destroys_the_frame_it_replaces) {
  counted::reset_counts();
  bool ran = false;
  task<> t = must_not_run(counted{}, ran);
  task<> u = must_not_run(counted{}, ran);
  EXPECT_EQ(counted::alive(), 2);
  t = std::move(u);
  EXPECT_EQ(counted::alive(), 1);
  EXPECT_FALSE(u.done());  // NOLINT(bugprone-use-after-move): moved-from is empty, not done
  { task<> sink = std::move(t); }
  EXPECT_EQ(counted::alive(), 0);
  EXPECT_FALSE(ran);
}

TEST(task, released_frame_runs_to_completion_and_reports_done) {
  task<int> t = forty_two();
  auto frame = t.release();
  EXPECT_FALSE(t.done());
  EXPECT_FALSE(frame.done());
  frame.resume();  // no continuation set: completion returns here
  ASSERT_TRUE(frame.done());
  EXPECT_EQ(frame.promise().result(), 42);
  task<int> owner(frame);  // adopting the frame destroys it once
  EXPECT_TRUE(owner.done());
}

// Symmetric transfer only keeps the stack flat if the compiler makes the transfer a tail call.
// clang always does. g++ (12 at least) does so only with sibling-call optimization (-O2) and
// not inside a function ASan's use-after-scope (or TSan's exit hook) instruments, so the chain
// coroutines below opt out of those: they hold no buffers and share nothing, and what they
// test is the transfer, not memory safety.
#define CORIO_TAIL_CALL_TESTED __attribute__((no_sanitize("address", "thread")))

CORIO_TAIL_CALL_TESTED task<int> one() { co_return 1; }

CORIO_TAIL_CALL_TESTED task<int> sum_of_ones(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await one();
  co_return sum;
}

CORIO_TAIL_CALL_TESTED task<int> depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await depth(n - 1);
}

CORIO_TAIL_CALL_TESTED task<> record_stack(std::uintptr_t& at) {
  at = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  co_return;
}

CORIO_TAIL_CALL_TESTED task<std::uintptr_t> stack_growth_over(int awaits) {
  std::uintptr_t first = 0, last = 0;
  co_await record_stack(first);
  for (int i = 0; i < awaits; ++i) co_await record_stack(last);
  co_return first > last ? first - last : last - first;
}

// Without tail calls each await nests at least two call frames: 1000 awaits would move the
// stack by tens of KiB.
bool transfers_keep_stack_flat() { return run_sync(stack_growth_over(1000)) < 1024; }

TEST(task, synchronous_awaits_do_not_grow_the_stack) {
  EXPECT_TRUE(transfers_keep_stack_flat())
      << "this build does not compile symmetric transfer to a tail call (g++ below -O2?)";
}

// A million nested resume() calls would need tens of MiB of stack, far past the 8 MiB of the
// main thread: without symmetric transfer these crash. They skip rather than crash the whole
// binary when the probe above already failed.
TEST(task, million_synchronous_awaits_in_a_loop_run_in_constant_stack) {
  if (!transfers_keep_stack_flat()) GTEST_SKIP() << "no tail calls in this build";
  EXPECT_EQ(run_sync(sum_of_ones(1'000'000)), 1'000'000);
}

TEST(task, million_deep_await_chain_runs_in_constant_stack) {
  if (!transfers_keep_stack_flat()) GTEST_SKIP() << "no tail calls in this build";
  EXPECT_EQ(run_sync(depth(1'000'000)), 1'000'000);
}

task<> append(std::string& log, char c) {
  log += c;
  co_return;
}

task<> nested(std::string& log, int level) {
  log += '(';
  if (level > 0) {
    co_await nested(log, level - 1);
    co_await nested(log, level - 1);
  } else {
    co_await append(log, 'x');
  }
  log += ')';
}

TEST(task, nested_tasks_run_in_program_order) {
  std::string log;
  run_sync(nested(log, 2));
  EXPECT_EQ(log, "(((x)(x))((x)(x)))");
}

// ---- Frame pool ----------------------------------------------------------------------------

[[gnu::noinline]] task<int> leaf(int x) { co_return x + 1; }
[[gnu::noinline]] task<> noop() { co_return; }
[[gnu::noinline]] task<int> parent(int x) {
  co_await noop();
  co_return co_await leaf(x) + co_await leaf(x + 1);
}

TEST(frame_pool, counting_operator_new_sees_global_allocations) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  // Through a volatile pointer so the compiler cannot elide the allocation.
  void* (*volatile allocate)(std::size_t) = &::operator new;
  std::size_t counted_calls = 0;
  {
    allocation_window window;
    ::operator delete(allocate(16));
    counted_calls = window.count();
  }
  EXPECT_EQ(counted_calls, 1u);
}

TEST(frame_pool, steady_state_tasks_make_no_global_allocations) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  corio::detail::frame_pool_trim();  // start cold, whatever earlier tests left behind
  ASSERT_EQ(run_sync(parent(1)), 5);  // warm-up: fills the lists for every frame size used
  const auto before = frame_pool_stats();
  std::size_t allocations = 0;
  int sum = 0;
  {
    allocation_window window;
    for (int i = 0; i < 10'000; ++i) sum += run_sync(parent(i));
    allocations = window.count();
  }
  const auto after = frame_pool_stats();
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(sum, 100'020'000);
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  // At least the outer frames came from the pool (clang may elide the nested ones).
  EXPECT_GE(after.pooled_allocations - before.pooled_allocations, 10'000u);
}

TEST(frame_pool, frame_freed_on_another_thread_joins_that_threads_pool) {
  task<int> made_here = leaf(1);
  task<int> started_here = leaf(2);
  corio::detail::frame_pool_counters freed{}, reused{};
  int result = 0;
  std::thread other([&] {
    const auto start = frame_pool_stats();
    { task<int> sink = std::move(made_here); }
    result = run_sync(std::move(started_here));
    freed = frame_pool_stats();
    result += run_sync(leaf(3));  // same frame size: served by a frame the main thread made
    reused = frame_pool_stats();
    freed.deallocations -= start.deallocations;
  });
  other.join();
  EXPECT_EQ(result, 7);
  EXPECT_EQ(freed.deallocations, 2u);
  EXPECT_GT(freed.retained_bytes, 0u);
  EXPECT_EQ(reused.pooled_allocations - freed.pooled_allocations, 1u);
  EXPECT_EQ(reused.system_allocations, freed.system_allocations);
}

TEST(frame_pool, thread_exit_returns_retained_frames_to_the_system) {
  if (!CORIO_TEST_CAN_REPLACE_NEW) GTEST_SKIP() << "TSan's runtime owns operator new";
  watched_frees = 0;
  std::thread other([] {
    for (auto& w : watched_blocks) {
      void* frame = corio::detail::frame_allocate(100);
      w.store(frame);
    }
    for (auto& w : watched_blocks) corio::detail::frame_deallocate(w.load(), 100);
  });
  other.join();
  EXPECT_EQ(watched_frees.load(), 3);
  for (auto& w : watched_blocks) w.store(nullptr);
}

TEST(frame_pool, trim_returns_every_retained_frame) {
  corio::detail::frame_deallocate(corio::detail::frame_allocate(200), 200);
  EXPECT_GT(frame_pool_stats().retained_bytes, 0u);
  corio::detail::frame_pool_trim();
  EXPECT_EQ(frame_pool_stats().retained_bytes, 0u);
  const auto before = frame_pool_stats();
  corio::detail::frame_deallocate(corio::detail::frame_allocate(200), 200);
  EXPECT_EQ(frame_pool_stats().system_allocations - before.system_allocations, 1u);
}

TEST(frame_pool, frames_above_sixteen_kib_bypass_the_pool) {
  corio::detail::frame_pool_trim();
  const auto before = frame_pool_stats();
  for (int i = 0; i < 2; ++i) {
    corio::detail::frame_deallocate(corio::detail::frame_allocate(16385), 16385);
  }
  const auto after = frame_pool_stats();
  EXPECT_EQ(after.system_allocations - before.system_allocations, 2u);
  EXPECT_EQ(after.pooled_allocations, before.pooled_allocations);
  EXPECT_EQ(after.retained_bytes, 0u);
}

TEST(frame_pool, frames_within_a_size_class_share_blocks) {
  corio::detail::frame_pool_trim();
  corio::detail::frame_deallocate(corio::detail::frame_allocate(65), 65);
  const auto before = frame_pool_stats();
  corio::detail::frame_deallocate(corio::detail::frame_allocate(128), 128);
  const auto after = frame_pool_stats();
  EXPECT_EQ(after.pooled_allocations - before.pooled_allocations, 1u);
  EXPECT_EQ(after.system_allocations, before.system_allocations);
}

TEST(frame_pool, retain_limit_caps_the_bytes_a_thread_keeps) {
  corio::detail::frame_pool_trim();
  const std::size_t previous = corio::detail::set_frame_pool_retain_limit(128);
  void* a = corio::detail::frame_allocate(64);
  void* b = corio::detail::frame_allocate(64);
  void* c = corio::detail::frame_allocate(64);
  corio::detail::frame_deallocate(a, 64);
  corio::detail::frame_deallocate(b, 64);
  corio::detail::frame_deallocate(c, 64);  // over the cap: back to the system
  const std::size_t retained = frame_pool_stats().retained_bytes;
  // Over the cap, an empty class still keeps one block.
  corio::detail::frame_deallocate(corio::detail::frame_allocate(1000), 1000);
  const std::size_t retained_with_other_class = frame_pool_stats().retained_bytes;
  corio::detail::set_frame_pool_retain_limit(previous);
  corio::detail::frame_pool_trim();
  EXPECT_EQ(retained, 128u);
  EXPECT_EQ(retained_with_other_class, 128u + 1024u);
  EXPECT_EQ(corio::detail::frame_pool_retain_limit(), previous);
}

}  // namespace
