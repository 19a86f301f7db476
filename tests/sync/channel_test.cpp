#include <corio/sync/channel.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/task.hpp>

namespace {

using namespace std::chrono_literals;

// Lets every task already scheduled on this thread run once before we continue.
struct yield_now {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    corio::detail::schedule(*corio::detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};

corio::task<> yield_times(int n) {
  for (int i = 0; i < n; ++i) co_await yield_now{};
}

bool is_canceled(std::error_code ec) { return ec == std::errc::operation_canceled; }
bool is_closed(std::error_code ec) { return ec == corio::error::channel_closed; }

corio::task<std::error_code> recv_error(corio::channel_receiver<int>& rx) {
  co_return (co_await rx.recv()).error();
}

struct recv_outcome {
  int value;
  std::error_code error;
};

// A message that counts its live instances, to prove none is leaked or destroyed twice.
struct counted {
  static inline std::atomic<int> live{0};
  int value;
  explicit counted(int v) : value(v) { ++live; }
  counted(const counted& o) : value(o.value) { ++live; }
  counted(counted&& o) noexcept : value(o.value) { ++live; }
  ~counted() { --live; }
};

TEST(channel, delivers_in_order_from_a_task_on_the_same_thread) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    auto producer = corio::spawn([](corio::channel_sender<int> tx) -> corio::task<> {
      for (int i = 0; i < 100; ++i) EXPECT_TRUE(co_await tx.send(i));
    }(tx));
    tx.reset();
    for (int i = 0; i < 100; ++i) {
      auto v = co_await rx.recv();
      EXPECT_TRUE(v);
      EXPECT_EQ(*v, i);
    }
    auto end = co_await rx.recv();
    EXPECT_TRUE(is_closed(end.error()));
    co_await producer;
  }());
}

TEST(channel, queued_messages_arrive_before_closed) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_unbounded_channel<std::string>();
    EXPECT_TRUE(tx.try_send(std::string("a")));
    EXPECT_TRUE(tx.try_send(std::string("b")));
    tx.reset();
    EXPECT_EQ(*co_await rx.recv(), "a");
    EXPECT_EQ(*rx.try_recv(), "b");
    EXPECT_TRUE(is_closed(rx.try_recv().error()));
    EXPECT_TRUE(is_closed((co_await rx.recv()).error()));
  }());
}

TEST(channel, closes_when_senders_are_dropped_on_other_threads) {
  corio::block_on([]() -> corio::task<> {
    auto ch = corio::make_channel<int>(8);
    auto& [tx, rx] = ch;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([tx = ch.first, t]() mutable {
        EXPECT_TRUE(tx.blocking_send(t));
        tx.reset();
      });
    }
    tx.reset();
    int sum = 0;
    for (;;) {
      auto v = co_await rx.recv();  // waits while the threads still hold senders
      if (!v) {
        EXPECT_TRUE(is_closed(v.error()));
        break;
      }
      sum += *v;
    }
    EXPECT_EQ(sum, 0 + 1 + 2 + 3);
    for (auto& th : threads) th.join();
  }());
}

TEST(channel, bounded_send_suspends_while_full) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(2);
    int sent = 0;
    auto producer = corio::spawn([](corio::channel_sender<int> tx, int& sent) -> corio::task<> {
      for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(co_await tx.send(i));
        ++sent;
      }
    }(tx, sent));
    co_await yield_times(10);
    EXPECT_EQ(sent, 2);  // the third send waits for room
    co_await yield_times(10);
    EXPECT_EQ(sent, 2);
    EXPECT_EQ(*co_await rx.recv(), 0);
    co_await yield_times(10);
    EXPECT_EQ(sent, 3);  // each receive lets exactly one waiting send in
    EXPECT_EQ(*rx.try_recv(), 1);
    co_await yield_times(10);
    EXPECT_EQ(sent, 4);
    for (int i = 2; i < 5; ++i) EXPECT_EQ(*co_await rx.recv(), i);
    co_await producer;
    EXPECT_EQ(sent, 5);
  }());
}

TEST(channel, try_send_on_full_keeps_the_message) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<std::unique_ptr<int>>(1);
    EXPECT_TRUE(tx.try_send(std::make_unique<int>(1)));
    auto second = std::make_unique<int>(2);
    auto r = tx.try_send(std::move(second));
    EXPECT_EQ(r.error(), std::errc::resource_unavailable_try_again);
    EXPECT_TRUE(second);  // moved from only on success
    EXPECT_EQ(**co_await rx.recv(), 1);
    EXPECT_TRUE(tx.try_send(std::move(second)));
    EXPECT_FALSE(second);
    EXPECT_EQ(**rx.try_recv(), 2);
    EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
  }());
}

TEST(channel, unbounded_try_send_always_succeeds_until_closed) {
  auto [tx, rx] = corio::make_unbounded_channel<int>();
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(tx.try_send(i));
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(*rx.try_recv(), i);
  rx.reset();
  EXPECT_TRUE(is_closed(tx.try_send(1).error()));
  EXPECT_TRUE(is_closed(tx.blocking_send(1).error()));
}


// The queue's ring indexes by mask and grows by doubling: growing while its contents wrap
// around the end must keep their order, at every size it passes through.
TEST(channel, queue_keeps_order_when_it_grows_while_wrapped) {
  auto [tx, rx] = corio::make_unbounded_channel<int>();
  int sent = 0;
  int received = 0;
  for (int round = 0; round < 6; ++round) {
    // Take a few from the front, then send more than that: the ring wraps, then must grow.
    for (int i = 0; i < 3 && received < sent; ++i) ASSERT_EQ(*rx.try_recv(), received++);
    const int more = 8 << round;
    for (int i = 0; i < more; ++i) ASSERT_TRUE(tx.try_send(sent++));
  }
  while (received < sent) ASSERT_EQ(*rx.try_recv(), received++);
  EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
}
TEST(channel, blocking_send_from_a_plain_thread_waits_for_room) {
  corio::block_on([]() -> corio::task<> {
    auto [tx0, rx] = corio::make_channel<int>(1);
    std::atomic<int> sent{0};
    std::thread producer([tx = std::move(tx0), &sent]() mutable {
      for (int i = 0; i < 1000; ++i) {
        EXPECT_TRUE(tx.blocking_send(i));
        sent.fetch_add(1);
      }
    });
    for (int i = 0; i < 1000; ++i) {
      auto v = co_await rx.recv();
      EXPECT_EQ(*v, i);
      // The queue holds one message and one more may be in a blocked send's hands.
      EXPECT_LE(sent.load(), i + 2);
    }
    EXPECT_TRUE(is_closed((co_await rx.recv()).error()));
    producer.join();
  }());
}

TEST(channel, producers_on_other_block_on_threads) {
  auto [tx0, rx] = corio::make_channel<int>(4);
  std::thread producer([tx = std::move(tx0)]() mutable {
    corio::block_on([](corio::channel_sender<int> tx) -> corio::task<> {
      for (int i = 0; i < 2000; ++i) EXPECT_TRUE(co_await tx.send(i));
    }(std::move(tx)));
  });
  corio::block_on([](corio::channel_receiver<int> rx) -> corio::task<> {
    for (int i = 0; i < 2000; ++i) EXPECT_EQ(*co_await rx.recv(), i);
    EXPECT_TRUE(is_closed((co_await rx.recv()).error()));
  }(std::move(rx)));
  producer.join();
}

TEST(channel, dropping_the_receiver_fails_pending_and_later_sends) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(1);
    EXPECT_TRUE(tx.try_send(0));
    auto waiting = corio::spawn([](corio::channel_sender<int> tx) -> corio::task<bool> {
      co_return is_closed((co_await tx.send(1)).error());
    }(tx));
    std::thread blocked([tx = corio::channel_sender<int>(tx)]() mutable {
      EXPECT_TRUE(is_closed(tx.blocking_send(2).error()));
    });
    co_await yield_times(3);
    rx.reset();
    EXPECT_TRUE(co_await waiting);
    blocked.join();
    EXPECT_TRUE(is_closed((co_await tx.send(3)).error()));
  }());
}

TEST(channel, queued_messages_are_destroyed_exactly_once) {
  {
    auto [tx, rx] = corio::make_channel<counted>(8);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(tx.try_send(counted(i)));
    EXPECT_EQ(counted::live.load(), 5);
    EXPECT_EQ(rx.try_recv()->value, 0);
    EXPECT_EQ(counted::live.load(), 4);
    rx.reset();
    EXPECT_EQ(counted::live.load(), 0);
  }
  EXPECT_EQ(counted::live.load(), 0);
}

TEST(channel, pending_recv_is_canceled_without_losing_a_message) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(4);
    auto waiter = corio::spawn(recv_error(rx));
    co_await yield_times(3);
    EXPECT_FALSE(waiter.is_finished());
    waiter.request_stop();
    EXPECT_TRUE(is_canceled(co_await waiter));
    EXPECT_TRUE(tx.try_send(7));
    EXPECT_EQ(*co_await rx.recv(), 7);
  }());
}

TEST(channel, pending_bounded_send_is_canceled_without_enqueuing) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_channel<int>(1);
    EXPECT_TRUE(tx.try_send(1));
    auto waiter = corio::spawn([](corio::channel_sender<int> tx) -> corio::task<std::error_code> {
      co_return (co_await tx.send(2)).error();
    }(tx));
    co_await yield_times(3);
    EXPECT_FALSE(waiter.is_finished());
    waiter.request_stop();
    EXPECT_TRUE(is_canceled(co_await waiter));
    EXPECT_EQ(*co_await rx.recv(), 1);
    EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
  }());
}

// Cancels a waiting recv from another thread while that thread also sends: whichever wins,
// each message is received exactly once.
constexpr int race_rounds = 300;

TEST(channel, cancel_racing_a_cross_thread_send_neither_loses_nor_duplicates) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_unbounded_channel<int>();
    int received = 0;
    int canceled = 0;
    for (int i = 0; i < race_rounds; ++i) {
      auto waiter = corio::spawn([](corio::channel_receiver<int>& rx) -> corio::task<recv_outcome> {
        auto r = co_await rx.recv();
        co_return r ? recv_outcome{*r, {}} : recv_outcome{-1, r.error()};
      }(rx));
      co_await yield_now{};  // the waiter is suspended in recv now
      std::thread racer([&waiter, tx = corio::channel_sender<int>(tx), i]() mutable {
        if (i % 2) waiter.request_stop();
        EXPECT_TRUE(tx.try_send(i));
        if (!(i % 2)) waiter.request_stop();
      });
      auto r = co_await waiter;
      racer.join();
      if (r.error) {
        EXPECT_TRUE(is_canceled(r.error));
        ++canceled;
        EXPECT_EQ(*co_await rx.recv(), i);  // the message stayed queued
      } else {
        EXPECT_EQ(r.value, i);
      }
      ++received;
      EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
    }
    EXPECT_EQ(received, race_rounds);
    (void)canceled;
  }());
}

// 4 producers (two plain threads, two block_on threads) x 50,000 messages into a small bounded
// channel, in random batches with random yields; one receiver checks that every producer's
// messages arrive exactly once and in order.
constexpr std::uint64_t stress_messages = 50'000;
constexpr std::uint64_t stress_producers = 4;

std::uint64_t stress_message(std::uint64_t producer, std::uint64_t seq) {
  return producer << 32 | seq;
}

void stress_plain_producer(corio::channel_sender<std::uint64_t> tx, std::uint64_t id) {
  std::minstd_rand rng(static_cast<std::uint32_t>(id) + 1);
  std::uint64_t seq = 0;
  while (seq < stress_messages) {
    for (auto batch = rng() % 16 + 1; batch > 0 && seq < stress_messages; --batch, ++seq) {
      const std::uint64_t m = stress_message(id, seq);
      if (!tx.try_send(m)) {
        ASSERT_TRUE(tx.blocking_send(m));
      }
    }
    if (rng() % 4 == 0) std::this_thread::yield();
  }
}

corio::task<> stress_task_producer(corio::channel_sender<std::uint64_t> tx, std::uint64_t id) {
  std::minstd_rand rng(static_cast<std::uint32_t>(id) + 1);
  std::uint64_t seq = 0;
  while (seq < stress_messages) {
    for (auto batch = rng() % 16 + 1; batch > 0 && seq < stress_messages; --batch, ++seq) {
      const std::uint64_t m = stress_message(id, seq);
      if (rng() % 2 == 0 && tx.try_send(m)) continue;
      EXPECT_TRUE(co_await tx.send(m));
    }
    if (rng() % 4 == 0) co_await yield_now{};
  }
}

TEST(channel, stress_four_producers_across_threads_keep_order_and_count) {
  auto [tx, rx] = corio::make_channel<std::uint64_t>(64);
  std::vector<std::thread> threads;
  for (std::uint64_t id = 0; id < stress_producers; ++id) {
    if (id % 2 == 0) {
      threads.emplace_back(stress_plain_producer, tx, id);
    } else {
      threads.emplace_back([id](corio::channel_sender<std::uint64_t> tx) {
        corio::block_on(stress_task_producer(std::move(tx), id));
      }, tx);
    }
  }
  tx.reset();
  const auto received = corio::block_on(
      [](corio::channel_receiver<std::uint64_t> rx) -> corio::task<std::uint64_t> {
        std::minstd_rand rng(7);
        std::vector<std::uint64_t> next(stress_producers, 0);
        std::uint64_t count = 0;
        for (;;) {
          auto m = (rng() % 2 == 0) ? rx.try_recv() : co_await rx.recv();
          if (!m) {
            if (m.error() == std::errc::resource_unavailable_try_again) continue;
            EXPECT_TRUE(is_closed(m.error()));
            break;
          }
          const std::uint64_t id = *m >> 32;
          const std::uint64_t seq = *m & 0xFFFF'FFFFu;
          EXPECT_LT(id, stress_producers);
          if (id >= stress_producers) break;
          EXPECT_EQ(seq, next[id]) << "producer " << id;  // in order, no loss, no duplicate
          next[id] = seq + 1;
          ++count;
          if (rng() % 64 == 0) co_await yield_now{};
        }
        for (std::uint64_t id = 0; id < stress_producers; ++id) {
          EXPECT_EQ(next[id], stress_messages);
        }
        co_return count;
      }(std::move(rx)));
  for (auto& th : threads) th.join();
  EXPECT_EQ(received, stress_producers * stress_messages);
}

// A frame destroyed while suspended in recv/send (block_on returning with tasks still pending)
// leaves nothing behind that a later send from another thread could touch.
TEST(channel, executor_shutdown_withdraws_pending_waiters) {
  auto [tx, rx] = corio::make_channel<int>(1);
  auto tx2 = tx;
  corio::block_on([](corio::channel_receiver<int>& rx) -> corio::task<> {
    corio::spawn([](corio::channel_receiver<int>& rx) -> corio::task<> {
      (void)co_await rx.recv();
      ADD_FAILURE() << "never resumed";
    }(rx)).detach();
    co_await yield_now{};  // it waits in recv when block_on returns
  }(rx));
  std::thread([&] { EXPECT_TRUE(tx2.try_send(5)); }).join();  // finds no stale receiver
  EXPECT_EQ(*rx.try_recv(), 5);

  ASSERT_TRUE(tx.try_send(6));
  corio::block_on([](corio::channel_sender<int>& tx) -> corio::task<> {
    corio::spawn([](corio::channel_sender<int> tx) -> corio::task<> {
      (void)co_await tx.send(7);
      ADD_FAILURE() << "never resumed";
    }(tx)).detach();
    co_await yield_now{};  // it waits for room when block_on returns
  }(tx));
  EXPECT_EQ(*rx.try_recv(), 6);  // admits no stale sender
  EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
}

}  // namespace
