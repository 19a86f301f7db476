#include <corio/sync/event.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

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

TEST(manual_reset_event, wait_after_set_completes_at_once) {
  corio::block_on([]() -> corio::task<> {
    corio::manual_reset_event ev;
    EXPECT_FALSE(ev.is_set());
    ev.set();
    EXPECT_TRUE(ev.is_set());
    EXPECT_TRUE(co_await ev.wait());
    EXPECT_TRUE(co_await ev.wait());  // manual reset: it stays set
  }());
}

TEST(manual_reset_event, set_resumes_a_waiter_on_the_same_thread) {
  corio::block_on([]() -> corio::task<> {
    corio::manual_reset_event ev;
    auto setter = corio::spawn([](corio::manual_reset_event& ev) -> corio::task<> {
      ev.set();
      co_return;
    }(ev));  // runs once the wait below has suspended
    EXPECT_TRUE(co_await ev.wait());
    co_await setter;
  }());
}

TEST(manual_reset_event, set_resumes_every_waiter) {
  corio::block_on([]() -> corio::task<> {
    corio::manual_reset_event ev;
    int resumed = 0;
    std::vector<corio::join_handle<>> waiters;
    for (int i = 0; i < 10; ++i) {
      waiters.push_back(corio::spawn([](corio::manual_reset_event& ev, int& n) -> corio::task<> {
        EXPECT_TRUE(co_await ev.wait());
        ++n;
      }(ev, resumed)));
    }
    co_await yield_now{};
    EXPECT_EQ(resumed, 0);
    ev.set();
    for (auto& w : waiters) co_await w;
    EXPECT_EQ(resumed, 10);
  }());
}

TEST(manual_reset_event, set_from_another_thread_resumes_waiters_on_several_threads) {
  corio::manual_reset_event ev;
  std::atomic<int> resumed{0};
  std::vector<std::thread> waiters;
  for (int t = 0; t < 3; ++t) {
    waiters.emplace_back([&] {
      corio::block_on([](corio::manual_reset_event& ev, std::atomic<int>& n) -> corio::task<> {
        std::vector<corio::join_handle<>> local;
        for (int i = 0; i < 4; ++i) {
          local.push_back(corio::spawn([](corio::manual_reset_event& ev,
                                          std::atomic<int>& n) -> corio::task<> {
            EXPECT_TRUE(co_await ev.wait());
            n.fetch_add(1);
          }(ev, n)));
        }
        for (auto& h : local) co_await h;
      }(ev, resumed));
    });
  }
  std::thread setter([&] { ev.set(); });
  setter.join();
  for (auto& th : waiters) th.join();
  EXPECT_EQ(resumed.load(), 12);
}

TEST(manual_reset_event, reset_makes_later_waits_suspend) {
  corio::block_on([]() -> corio::task<> {
    corio::manual_reset_event ev(true);
    EXPECT_TRUE(ev.is_set());
    ev.reset();
    EXPECT_FALSE(ev.is_set());
    bool resumed = false;
    auto waiter = corio::spawn([](corio::manual_reset_event& ev, bool& done) -> corio::task<> {
      EXPECT_TRUE(co_await ev.wait());
      done = true;
    }(ev, resumed));
    co_await yield_now{};
    co_await yield_now{};
    EXPECT_FALSE(resumed);
    std::thread([&] { ev.set(); }).join();
    co_await waiter;
    EXPECT_TRUE(resumed);
  }());
}

TEST(manual_reset_event, pending_wait_is_canceled) {
  corio::block_on([]() -> corio::task<> {
    corio::manual_reset_event ev;
    auto canceled = corio::spawn([](corio::manual_reset_event& ev) -> corio::task<std::error_code> {
      co_return (co_await ev.wait()).error();
    }(ev));
    auto kept = corio::spawn([](corio::manual_reset_event& ev) -> corio::task<std::error_code> {
      co_return (co_await ev.wait()).error();
    }(ev));
    co_await yield_now{};
    canceled.request_stop();
    EXPECT_EQ(co_await canceled, std::errc::operation_canceled);
    EXPECT_FALSE(kept.is_finished());  // the other waiter still waits
    ev.set();
    EXPECT_FALSE(co_await kept);
  }());
}

// set() and request_stop() race from two threads: every waiter resumes exactly once, with one
// outcome or the other.
TEST(manual_reset_event, set_racing_cancel_resumes_each_waiter_once) {
  for (int round = 0; round < 200; ++round) {
    corio::block_on([](int round) -> corio::task<> {
      corio::manual_reset_event ev;
      auto waiter = corio::spawn([](corio::manual_reset_event& ev) -> corio::task<std::error_code> {
        co_return (co_await ev.wait()).error();
      }(ev));
      co_await yield_now{};
      std::thread stopper([&] { waiter.request_stop(); });
      std::thread setter([&] { ev.set(); });
      const std::error_code ec = co_await waiter;
      EXPECT_TRUE(!ec || ec == std::errc::operation_canceled) << round;
      stopper.join();
      setter.join();
    }(round));
  }
}

}  // namespace
