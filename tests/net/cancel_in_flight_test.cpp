// Cancelling an operation while the kernel may own its buffer (issue 4's safety promise).
// On io_uring a read or write is handed to the kernel whole; a cancelled one must resume only
// once the kernel has let go of the buffer, so that the caller may reuse or free it at once.
// The checks run on every backend (epoll trivially owns nothing) and mean most under ASan:
// after each cancel the buffers are overwritten and freed, and later traffic must neither
// land in them nor come from them.
#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/tcp.hpp>
#include <corio/unique_fd.hpp>

#include "support.hpp"

namespace {

using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using namespace corio::test;

class cancel_in_flight : public backend_test {};

corio::net::socket_address loopback_v4() { return {corio::net::ip_address::loopback_v4(), 0}; }

struct pair {
  tcp_stream near;  // the side whose operations are cancelled
  tcp_stream far;
};

task<corio::result<std::vector<pair>>> connect_pairs(std::size_t n) {
  auto l = tcp_listener::bind(loopback_v4());
  if (!l) co_return l.error();
  std::vector<pair> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = co_await tcp_stream::connect(*l->local_address());
    if (!c) co_return c.error();
    auto a = co_await l->accept();
    if (!a) co_return a.error();
    out.push_back(pair{std::move(a->first), std::move(*c)});
  }
  co_return out;
}

task<corio::result<std::size_t>> read_into(tcp_stream& s, std::span<std::byte> buf) {
  co_return co_await s.read(buf);
}

task<corio::result<void>> write_from(tcp_stream& s, std::span<const std::byte> buf) {
  co_return co_await s.write_all(buf);
}

constexpr std::byte poison{0xEE};

TEST_P(cancel_in_flight, cancelled_reads_leave_their_buffers_to_the_caller) {
  run([]() -> task<> {
    constexpr std::size_t n = 32;
    auto pairs = co_await connect_pairs(n);
    CO_ASSERT_OK(pairs);
    std::vector<std::unique_ptr<std::array<std::byte, 4096>>> buffers;
    std::vector<corio::join_handle<corio::result<std::size_t>>> readers;
    for (auto& p : *pairs) {
      buffers.push_back(std::make_unique<std::array<std::byte, 4096>>());
      readers.push_back(corio::spawn(read_into(p.near, *buffers.back())));
    }
    for (int turn = 0; turn < 4; ++turn) co_await corio::yield();  // submitted to the kernel
    for (auto& r : readers) {
      EXPECT_FALSE(r.is_finished());
      r.request_stop();
    }
    for (auto& r : readers) {
      auto got = co_await r;  // nothing was sent: every read must end cancelled
      EXPECT_EQ(got.error(), std::errc::operation_canceled);
    }
    // Ours again: reuse them, then let data arrive. None may land in them.
    for (auto& b : buffers) std::fill(b->begin(), b->end(), poison);
    for (auto& p : *pairs) CO_ASSERT_OK(co_await p.far.write_all(bytes("after")));
    for (auto& p : *pairs) {
      std::array<std::byte, 5> got{};
      CO_ASSERT_OK(co_await p.near.read_exact(got));  // the bytes were not eaten either
      EXPECT_EQ(text(got), "after");
    }
    for (auto& b : buffers) {
      EXPECT_TRUE(std::all_of(b->begin(), b->end(), [](std::byte x) { return x == poison; }));
    }
    buffers.clear();  // freed: under ASan, a late access by corio would be reported
  }());
}

TEST_P(cancel_in_flight, cancelled_writes_stop_reading_their_buffers) {
  run([]() -> task<> {
    auto pairs = co_await connect_pairs(1);
    CO_ASSERT_OK(pairs);
    pair& p = (*pairs)[0];
    const int small = 64 << 10;
    CO_ASSERT_TRUE(::setsockopt(p.near.raw().native_handle(), SOL_SOCKET, SO_SNDBUF, &small,
                                sizeof small) == 0);
    CO_ASSERT_TRUE(::setsockopt(p.far.raw().native_handle(), SOL_SOCKET, SO_RCVBUF, &small,
                                sizeof small) == 0);
    auto data = std::make_unique<std::vector<std::byte>>(8 << 20);
    for (std::size_t i = 0; i < data->size(); ++i) (*data)[i] = std::byte(i % 251);
    auto writer = corio::spawn(write_from(p.near, *data));
    int unsent = 0;
    for (int turn = 0; turn < 100 && unsent == 0; ++turn) {  // until the kernel holds some
      co_await corio::yield();
      CO_ASSERT_TRUE(::ioctl(p.near.raw().native_handle(), SIOCOUTQ, &unsent) == 0);
    }
    EXPECT_FALSE(writer.is_finished());  // the peer does not read: the write waits
    writer.request_stop();
    auto outcome = co_await writer;
    EXPECT_EQ(outcome.error(), std::errc::operation_canceled);
    // Overwrite, then free: nothing sent from now on may come from this memory.
    std::fill(data->begin(), data->end(), poison);
    data.reset();
    CO_ASSERT_OK(p.near.shutdown_write());
    std::vector<std::byte> got;
    std::array<std::byte, 65536> chunk{};
    for (int reads = 0; reads < 100000; ++reads) {  // until end of stream, bounded
      auto n = co_await p.far.read(chunk);
      CO_ASSERT_OK(n);
      if (*n == 0) break;
      got.insert(got.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    EXPECT_GT(got.size(), 0u);
    EXPECT_LT(got.size(), std::size_t{8} << 20);
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i] != std::byte(i % 251)) {
        ADD_FAILURE() << "byte " << i << " of " << got.size() << " is not what was written";
        break;
      }
    }
  }());
}

// A frame destroyed with its read still in the kernel (block_on returns while a spawned task
// waits): the executor must not let the kernel keep a buffer that is about to be freed.
TEST_P(cancel_in_flight, a_frame_destroyed_mid_read_waits_for_the_kernel) {
  // Duplicates of both ends outlive the executor (a registered socket may not).
  std::vector<std::pair<corio::unique_fd, corio::unique_fd>> kept;
  run([&kept]() -> task<> {
    auto pairs = co_await connect_pairs(8);
    CO_ASSERT_OK(pairs);
    for (auto& p : *pairs) {
      kept.emplace_back(corio::unique_fd(::dup(p.near.raw().native_handle())),
                        corio::unique_fd(::dup(p.far.raw().native_handle())));
      corio::spawn([](tcp_stream s) -> task<> {
        std::array<std::byte, 4096> buf{};  // in the frame that is destroyed
        (void)co_await s.read(buf);
        ADD_FAILURE() << "the read finished: it should still be waiting";
      }(std::move(p.near))).detach();
    }
    for (int turn = 0; turn < 4; ++turn) co_await corio::yield();
  }());
  // The executor and the frames are gone. Data for the near ends must stay in their sockets:
  // the reads were withdrawn first, so no kernel write reaches the freed frames.
  ASSERT_EQ(kept.size(), 8u);
  for (auto& [near, far] : kept) {
    EXPECT_EQ(::send(far.get(), "late", 4, MSG_NOSIGNAL), 4);
  }
  for (auto& [near, far] : kept) {
    char got[8] = {};
    EXPECT_EQ(::recv(near.get(), got, sizeof got, 0), 4);
  }
}

CORIO_INSTANTIATE_BACKENDS(cancel_in_flight);

}  // namespace
