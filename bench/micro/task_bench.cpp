// Coroutine resume and spawn: corio's task await chain, yield round trip and spawn + join, next
// to the callback loop's "continue next turn" (timeout 0) and, when built, asio's awaitable
// chain, co_spawn and post.
#include <benchmark/benchmark.h>

#include <chrono>
#include <corio/corio.hpp>

#ifdef CORIO_BENCH_ASIO
#include <asio.hpp>
#endif

namespace {

corio::task<int> chain(int depth) {
  if (depth == 0) co_return 1;
  co_return 1 + co_await chain(depth - 1);
}

corio::task<> await_chain(benchmark::State& st, int depth) {
  for (auto _ : st) benchmark::DoNotOptimize(co_await chain(depth));
}

// One await of a task `depth` levels deep: depth + 1 frames created, resumed and destroyed.
void coro_task_await_chain(benchmark::State& st) {
  corio::block_on(await_chain(st, static_cast<int>(st.range(0))));
  st.SetItemsProcessed(st.iterations() * (st.range(0) + 1));
}
BENCHMARK(coro_task_await_chain)->Arg(1)->Arg(16);

corio::task<> yields(benchmark::State& st) {
  for (auto _ : st) co_await corio::yield();
}
// Suspend, go through the executor's ready queue, resume.
void coro_yield(benchmark::State& st) { corio::block_on(yields(st)); }
BENCHMARK(coro_yield);

corio::task<int> noop() { co_return 1; }
corio::task<> spawns(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(co_await corio::spawn(noop()));
}
void coro_spawn_join(benchmark::State& st) { corio::block_on(spawns(st)); }
BENCHMARK(coro_spawn_join);

// The callback counterpart of yield: a handler that re-arms a zero timeout for itself.
struct requeue {
  benchmark::State* st;
  void timeout(corio::event_loop<int>& loop, corio::token t) {
    if (!st->KeepRunning()) return loop.shutdown();
    (void)loop.timeout(t, std::chrono::nanoseconds::zero());
  }
};
void callback_timeout0_requeue(benchmark::State& st) {
  auto loop = corio::event_loop<int>::create().value();
  requeue h{&st};
  (void)loop.timeout(corio::token{1}, std::chrono::nanoseconds::zero());
  (void)loop.run(h);
}
BENCHMARK(callback_timeout0_requeue);

#ifdef CORIO_BENCH_ASIO
asio::awaitable<int> asio_chain(int depth) {
  if (depth == 0) co_return 1;
  co_return 1 + co_await asio_chain(depth - 1);
}
asio::awaitable<int> asio_noop() { co_return 1; }

template <class Body>
void run_asio(Body body) {
  asio::io_context io(1);
  asio::co_spawn(io, body(), asio::detached);
  io.run();
}

void asio_awaitable_chain(benchmark::State& st) {
  const int depth = static_cast<int>(st.range(0));
  run_asio([&]() -> asio::awaitable<void> {
    for (auto _ : st) benchmark::DoNotOptimize(co_await asio_chain(depth));
  });
  st.SetItemsProcessed(st.iterations() * (st.range(0) + 1));
}
BENCHMARK(asio_awaitable_chain)->Arg(1)->Arg(16);

void asio_post_yield(benchmark::State& st) {
  run_asio([&]() -> asio::awaitable<void> {
    for (auto _ : st) co_await asio::post(asio::use_awaitable);
  });
}
BENCHMARK(asio_post_yield);

void asio_co_spawn_join(benchmark::State& st) {
  run_asio([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (auto _ : st) benchmark::DoNotOptimize(co_await asio::co_spawn(ex, asio_noop(), asio::use_awaitable));
  });
}
BENCHMARK(asio_co_spawn_join);

// The callback counterpart: a handler that posts itself.
void asio_post_requeue(benchmark::State& st) {
  asio::io_context io(1);
  struct again {
    asio::io_context* io;
    benchmark::State* st;
    void operator()() const {
      if (st->KeepRunning()) asio::post(*io, *this);
    }
  };
  asio::post(io, again{&io, &st});
  io.run();
}
BENCHMARK(asio_post_requeue);
#endif

}  // namespace

BENCHMARK_MAIN();
