#include <corio/sync/oneshot.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include <corio/runtime.hpp>
#include <corio/task.hpp>

namespace {

struct yield_now {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    corio::detail::schedule(*corio::detail::current_executor(), h);
  }
  void await_resume() const noexcept {}
};

bool is_closed(std::error_code ec) { return ec == corio::error::channel_closed; }

TEST(oneshot, value_sent_before_the_await_is_received) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_oneshot<std::string>();
    EXPECT_TRUE(tx.send("hello"));
    auto v = co_await rx;
    EXPECT_EQ(*v, "hello");
    EXPECT_TRUE(is_closed((co_await rx.recv()).error()));  // a value is received once
  }());
}

TEST(oneshot, await_before_send_resumes_on_send) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_oneshot<std::unique_ptr<int>>();
    auto sender = corio::spawn([](corio::oneshot_sender<std::unique_ptr<int>> tx) -> corio::task<> {
      EXPECT_TRUE(tx.send(std::make_unique<int>(5)));
      co_return;
    }(std::move(tx)));  // runs only once the receive below has suspended
    auto v = co_await rx.recv();
    EXPECT_EQ(**v, 5);
    co_await sender;
  }());
}

TEST(oneshot, dropped_sender_closes) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_oneshot<int>();
    EXPECT_EQ(rx.try_recv().error(), std::errc::resource_unavailable_try_again);
    auto dropper = corio::spawn([](corio::oneshot_sender<int> tx) -> corio::task<> {
      tx.reset();
      co_return;
    }(std::move(tx)));
    EXPECT_TRUE(is_closed((co_await rx).error()));
    co_await dropper;
  }());
}

TEST(oneshot, sender_dropped_on_another_thread_closes) {
  corio::block_on([]() -> corio::task<> {
    auto [tx0, rx] = corio::make_oneshot<int>();
    std::thread dropper([tx = std::move(tx0)]() mutable { tx.reset(); });
    EXPECT_TRUE(is_closed((co_await rx).error()));
    dropper.join();
  }());
}

TEST(oneshot, send_fails_once_used_or_after_the_receiver_is_gone) {
  auto [tx, rx] = corio::make_oneshot<int>();
  EXPECT_TRUE(tx.send(1));
  EXPECT_TRUE(is_closed(tx.send(2).error()));
  EXPECT_EQ(*rx.try_recv(), 1);

  auto [tx2, rx2] = corio::make_oneshot<int>();
  rx2.reset();
  EXPECT_TRUE(is_closed(tx2.send(3).error()));
}

TEST(oneshot, value_crosses_threads) {
  for (int round = 0; round < 200; ++round) {
    auto [tx0, rx] = corio::make_oneshot<int>();
    std::thread plain([tx = std::move(tx0), round]() mutable { EXPECT_TRUE(tx.send(round)); });
    const int got = corio::block_on([](corio::oneshot_receiver<int> rx) -> corio::task<int> {
      co_return *co_await rx;
    }(std::move(rx)));
    EXPECT_EQ(got, round);
    plain.join();
  }
}

TEST(oneshot, value_crosses_block_on_threads) {
  auto [tx0, rx] = corio::make_oneshot<int>();
  std::thread other([tx = std::move(tx0)]() mutable {
    corio::block_on([](corio::oneshot_sender<int> tx) -> corio::task<> {
      co_await yield_now{};
      EXPECT_TRUE(tx.send(9));
    }(std::move(tx)));
  });
  EXPECT_EQ(corio::block_on([](corio::oneshot_receiver<int>& rx) -> corio::task<int> {
              co_return *co_await rx;
            }(rx)),
            9);
  other.join();
}

TEST(oneshot, pending_receive_is_canceled_and_the_value_kept) {
  corio::block_on([]() -> corio::task<> {
    auto [tx, rx] = corio::make_oneshot<int>();
    auto waiter = corio::spawn(
        [](corio::oneshot_receiver<int>& rx) -> corio::task<std::error_code> {
          co_return (co_await rx).error();
        }(rx));
    co_await yield_now{};
    EXPECT_FALSE(waiter.is_finished());
    waiter.request_stop();
    EXPECT_EQ(co_await waiter, std::errc::operation_canceled);
    EXPECT_TRUE(tx.send(4));
    EXPECT_EQ(*co_await rx, 4);
  }());
}

}  // namespace
