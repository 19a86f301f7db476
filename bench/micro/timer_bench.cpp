// Timers at 10^3..10^6: arm then cancel, and arm then fire (1 ms), for corio coroutines
// (sleep_for in spawned tasks, so spawn + join is part of the price), the callback loop's
// timeouts (the wheel with nothing around it) and, when built, asio::steady_timer.
#include <benchmark/benchmark.h>

#include <chrono>
#include <corio/corio.hpp>
#include <vector>

#ifdef CORIO_BENCH_ASIO
#include <asio.hpp>
#endif

namespace {

using namespace std::chrono_literals;

corio::task<> sleeper(std::chrono::milliseconds d) { (void)co_await corio::sleep_for(d); }

corio::task<> arm_and_end(benchmark::State& st, std::chrono::milliseconds d, bool cancel) {
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<corio::join_handle<>> handles;
  handles.reserve(n);
  for (auto _ : st) {
    for (std::size_t i = 0; i < n; ++i) handles.push_back(corio::spawn(sleeper(d)));
    co_await corio::yield();  // every sleeper runs and arms its timer
    if (cancel) {
      for (auto& h : handles) h.request_stop();
    }
    for (auto& h : handles) co_await h;
    handles.clear();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}

void coro_sleep_arm_cancel(benchmark::State& st) { corio::block_on(arm_and_end(st, 1h, true)); }
void coro_sleep_arm_fire(benchmark::State& st) { corio::block_on(arm_and_end(st, 1ms, false)); }
BENCHMARK(coro_sleep_arm_cancel)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(coro_sleep_arm_fire)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);

void callback_timeout_arm_cancel(benchmark::State& st) {
  auto loop = corio::event_loop<int>::create().value();
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<corio::timeout_handle> handles;
  handles.reserve(n);
  for (auto _ : st) {
    for (std::size_t i = 0; i < n; ++i) handles.push_back(loop.timeout(corio::token{i}, 1h).value());
    for (auto h : handles) benchmark::DoNotOptimize(loop.clear_timeout(h));
    handles.clear();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(callback_timeout_arm_cancel)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);

struct fire_counter {
  std::size_t left = 0;
  void timeout(corio::event_loop<int>& loop, corio::token) {
    if (--left == 0) loop.shutdown();
  }
};
void callback_timeout_arm_fire(benchmark::State& st) {
  auto loop = corio::event_loop<int>::create().value();
  const auto n = static_cast<std::size_t>(st.range(0));
  fire_counter h;
  for (auto _ : st) {
    for (std::size_t i = 0; i < n; ++i) (void)loop.timeout(corio::token{i}, 1ms);
    h.left = n;
    (void)loop.run(h);
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
BENCHMARK(callback_timeout_arm_fire)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);

#ifdef CORIO_BENCH_ASIO
void asio_steady_timer(benchmark::State& st, bool cancel) {
  asio::io_context io(1);
  const auto n = static_cast<std::size_t>(st.range(0));
  std::vector<asio::steady_timer> timers;
  timers.reserve(n);
  for (auto _ : st) {
    for (std::size_t i = 0; i < n; ++i) {
      timers.emplace_back(io, cancel ? std::chrono::steady_clock::duration(1h) : 1ms);
      timers.back().async_wait([](const asio::error_code&) {});
    }
    if (cancel) {
      for (auto& t : timers) t.cancel();
    }
    io.run();
    io.restart();
    timers.clear();
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}
void asio_steady_timer_arm_cancel(benchmark::State& st) { asio_steady_timer(st, true); }
void asio_steady_timer_arm_fire(benchmark::State& st) { asio_steady_timer(st, false); }
BENCHMARK(asio_steady_timer_arm_cancel)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(asio_steady_timer_arm_fire)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
#endif

}  // namespace
