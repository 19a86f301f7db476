// The sync primitives: broadcast to 8 subscribers, an uncontended async mutex and semaphore,
// and the mpmc channel shared by consumers on two runtime workers.
#include <benchmark/benchmark.h>

#include <corio/runtime.hpp>
#include <corio/sync/broadcast.hpp>
#include <corio/sync/channel.hpp>
#include <corio/sync/mutex.hpp>
#include <corio/sync/semaphore.hpp>

#include <vector>

namespace {

constexpr int subscribers = 8;
constexpr int batch = 1000;  // messages per iteration in the mpmc case

corio::task<> subscriber(corio::broadcast_receiver<int> rx) {
  while (auto v = co_await rx.recv()) benchmark::DoNotOptimize(*v);
}

// One send per iteration, which every one of 8 subscriber tasks (suspended in recv) receives
// before the next: the cost of a send and its 8 wake-ups and copies.
corio::task<> broadcast_here(benchmark::State& st) {
  auto [tx, rx] = corio::make_broadcast<int>(64);
  std::vector<corio::join_handle<>> subs;
  for (int i = 1; i < subscribers; ++i) subs.push_back(corio::spawn(subscriber(tx.subscribe())));
  subs.push_back(corio::spawn(subscriber(std::move(rx))));
  co_await corio::yield();  // all 8 wait in recv
  int i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(tx.send(i++));
    co_await corio::yield();  // behind the 8 woken subscribers in the ready queue
  }
  tx.reset();
  for (auto& s : subs) co_await s;
}
void sync_broadcast_send_8_subscribers(benchmark::State& st) { corio::block_on(broadcast_here(st)); }
BENCHMARK(sync_broadcast_send_8_subscribers);

corio::task<> mutex_here(benchmark::State& st) {
  corio::mutex m;
  for (auto _ : st) {
    auto g = co_await m.lock();
    benchmark::DoNotOptimize(g);
  }
}
void sync_mutex_lock_unlock(benchmark::State& st) { corio::block_on(mutex_here(st)); }
BENCHMARK(sync_mutex_lock_unlock);

corio::task<> semaphore_here(benchmark::State& st) {
  corio::semaphore s(4);
  for (auto _ : st) {
    auto p = co_await s.acquire();
    benchmark::DoNotOptimize(p);
  }
}
void sync_semaphore_acquire_release(benchmark::State& st) { corio::block_on(semaphore_here(st)); }
BENCHMARK(sync_semaphore_acquire_release);

corio::task<long> drain(corio::channel_receiver<int> rx) {
  long n = 0;
  while (auto v = co_await rx.recv()) n += 1;
  co_return n;
}

corio::task<> produce(benchmark::State& st, corio::channel_sender<int> tx) {
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) (void)co_await tx.send(i);
  }
  st.SetItemsProcessed(st.iterations() * batch);
}

// A producer on worker 0; one consumer on each of the two workers sharing the queue.
void sync_mpmc_two_workers(benchmark::State& st) {
  corio::runtime_options o;
  o.threads = 2;
  corio::runtime rt(o);
  auto [tx, rx] = corio::make_channel<int>(1024);
  auto c0 = rt.spawn_on(0, drain(rx));
  auto c1 = rt.spawn_on(1, drain(std::move(rx)));
  rt.spawn_on(0, produce(st, std::move(tx))).join();
  const long got = c0.join() + c1.join();
  if (got != st.iterations() * batch) st.SkipWithError("messages lost");
}
BENCHMARK(sync_mpmc_two_workers)->UseRealTime();

}  // namespace
