// Messages between tasks and threads: corio's channel (ping-pong latency and one-way
// throughput, on one thread and across two), the callback loop's sender/notify doing the same,
// and, when built, asio::post between two io_contexts.
#include <benchmark/benchmark.h>

#include <atomic>
#include <corio/corio.hpp>
#include <thread>

#ifdef CORIO_BENCH_ASIO
#include <asio.hpp>
#include <asio/experimental/channel.hpp>
#endif

namespace {

constexpr int batch = 1000;  // messages per iteration in the throughput cases

corio::task<> pong(corio::channel_receiver<int> in, corio::channel_sender<int> out) {
  while (auto v = co_await in.recv()) {
    if (!co_await out.send(*v)) break;
  }
}

corio::task<> ping(benchmark::State& st, corio::channel_sender<int> out,
                   corio::channel_receiver<int> in) {
  for (auto _ : st) {
    (void)co_await out.send(1);
    benchmark::DoNotOptimize(co_await in.recv());
  }
}

// One round trip per iteration between two tasks on one thread.
corio::task<> ping_pong_here(benchmark::State& st) {
  auto [to_pong, pong_in] = corio::make_channel<int>(1);
  auto [to_ping, ping_in] = corio::make_channel<int>(1);
  auto p = corio::spawn(pong(std::move(pong_in), std::move(to_ping)));
  co_await ping(st, std::move(to_pong), std::move(ping_in));
  co_await p;
}
void channel_ping_pong_one_thread(benchmark::State& st) { corio::block_on(ping_pong_here(st)); }
BENCHMARK(channel_ping_pong_one_thread);

// The same across two threads, each with its own executor.
void channel_ping_pong_two_threads(benchmark::State& st) {
  auto [to_pong, pong_in] = corio::make_channel<int>(1);
  auto [to_ping, ping_in] = corio::make_channel<int>(1);
  std::thread other([in = std::move(pong_in), out = std::move(to_ping)]() mutable {
    corio::block_on(pong(std::move(in), std::move(out)));
  });
  corio::block_on(ping(st, std::move(to_pong), std::move(ping_in)));
  other.join();  // ping's sender is gone: pong's recv ends with channel_closed
}
BENCHMARK(channel_ping_pong_two_threads)->UseRealTime();

// Send then receive on one task: the channel's own cost, no task switch (tokio:
// channel_send_recv_same_task).
corio::task<> send_recv_here(benchmark::State& st) {
  auto [tx, rx] = corio::make_channel<int>(1024);
  for (auto _ : st) {
    (void)co_await tx.send(1);
    benchmark::DoNotOptimize(co_await rx.recv());
  }
}
void channel_send_recv_same_task(benchmark::State& st) { corio::block_on(send_recv_here(st)); }
BENCHMARK(channel_send_recv_same_task);

corio::task<> produce(corio::channel_sender<int> out, long long n) {
  for (long long i = 0; i < n; ++i) (void)co_await out.send(1);
}
corio::task<> consume(benchmark::State& st, corio::channel_receiver<int> in) {
  for (auto _ : st) {
    for (int i = 0; i < batch; ++i) benchmark::DoNotOptimize(co_await in.recv());
  }
  st.SetItemsProcessed(st.iterations() * batch);
}
corio::task<> throughput_here(benchmark::State& st) {
  auto [tx, rx] = corio::make_channel<int>(1024);
  auto p = corio::spawn(produce(std::move(tx), st.max_iterations * batch));
  co_await consume(st, std::move(rx));
  co_await p;
}
void channel_throughput_one_thread(benchmark::State& st) { corio::block_on(throughput_here(st)); }
BENCHMARK(channel_throughput_one_thread);

void channel_throughput_two_threads(benchmark::State& st) {
  auto [tx, rx] = corio::make_channel<int>(1024);
  std::thread other([tx = std::move(tx), n = st.max_iterations * batch]() mutable {
    corio::block_on(produce(std::move(tx), static_cast<long long>(n)));
  });
  corio::block_on(consume(st, std::move(rx)));
  other.join();
}
BENCHMARK(channel_throughput_two_threads)->UseRealTime();

// Callback counterparts: the event loop's sender and notify.
struct echoer {
  corio::sender<int> peer;
  benchmark::State* st = nullptr;  // set on the side that drives the iterations
  bool done = false;  // KeepRunning must not be asked again once it said no
  void notify(corio::event_loop<int>& loop, int v) {
    if (v < 0 || done) return loop.shutdown();
    if (st && !st->KeepRunning()) {
      done = true;
      (void)peer.send(-1);
      return loop.shutdown();
    }
    (void)peer.send(v);
  }
};

void notify_ping_pong_one_thread(benchmark::State& st) {
  auto loop = corio::event_loop<int>::create().value();
  echoer h{loop.sender(), &st};  // sends to itself: one message, one turn
  (void)loop.sender().send(1);
  (void)loop.run(h);
}
BENCHMARK(notify_ping_pong_one_thread);

void notify_ping_pong_two_threads(benchmark::State& st) {
  auto a = corio::event_loop<int>::create().value();
  auto b = corio::event_loop<int>::create().value();
  echoer ha{b.sender(), &st};
  echoer hb{a.sender(), nullptr};
  std::thread other([&] { (void)b.run(hb); });
  (void)b.sender().send(1);
  (void)a.run(ha);
  other.join();
}
BENCHMARK(notify_ping_pong_two_threads)->UseRealTime();

struct counter {
  benchmark::State* st;
  int seen = 0;
  bool done = false;
  void notify(corio::event_loop<int>& loop, int) {
    if (done || ++seen < batch) return;
    seen = 0;
    if (!st->KeepRunning()) {
      done = true;
      loop.shutdown();
    }
  }
};
void notify_throughput_two_threads(benchmark::State& st) {
  auto loop = corio::event_loop<int>::create().value();
  auto tx = loop.sender();
  std::atomic<bool> done{false};
  std::thread other([&] {
    while (!done.load(std::memory_order_relaxed)) {
      for (int i = 0; i < batch; ++i) (void)tx.send(1);
      std::this_thread::yield();
    }
  });
  counter h{&st};
  (void)loop.run(h);
  done = true;
  other.join();
  st.SetItemsProcessed(st.iterations() * batch);
}
BENCHMARK(notify_throughput_two_threads)->UseRealTime();

#ifdef CORIO_BENCH_ASIO
// asio's channel, send then receive on one coroutine (corio: channel_send_recv_same_task).
void asio_channel_send_recv_same_task(benchmark::State& st) {
  asio::io_context io(1);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::experimental::channel<void(asio::error_code, int)> ch(io, 1024);
        for (auto _ : st) {
          co_await ch.async_send(asio::error_code{}, 1, asio::use_awaitable);
          benchmark::DoNotOptimize(co_await ch.async_receive(asio::use_awaitable));
        }
      },
      asio::detached);
  io.run();
}
BENCHMARK(asio_channel_send_recv_same_task);

// asio: handlers posted back and forth between two io_contexts on two threads.
void asio_post_ping_pong_two_threads(benchmark::State& st) {
  asio::io_context a(1), b(1);
  auto work_a = asio::make_work_guard(a);  // a's queue is empty while the hop is on b
  auto work_b = asio::make_work_guard(b);
  std::thread other([&] { b.run(); });
  struct hop {
    asio::io_context *here, *there;
    benchmark::State* st;
    void operator()() const {
      if (!st->KeepRunning()) return here->stop();
      asio::post(*there, [h = *this] { asio::post(*h.here, h); });
    }
  };
  asio::post(a, hop{&a, &b, &st});
  a.run();
  work_b.reset();
  other.join();
}
BENCHMARK(asio_post_ping_pong_two_threads)->UseRealTime();
#endif

}  // namespace
