// The completion engine's contract (lib/completion/engine.hpp), directly: a request is
// answered once through its own callback, a stream read is answered from input received ahead,
// a cancelled request is answered only once the kernel let go of its buffer, and close() ends
// what waits on the socket's input. Skipped where the kernel has no io_uring.
#include <dlfcn.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "completion/engine.hpp"

// Every io_uring_enter the engine makes goes through one of these liburing calls: this binary
// defines them, counts, and forwards to liburing's own (found past this one, RTLD_NEXT).
namespace {
int kernel_entries = 0;
template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}
}  // namespace

extern "C" {
int io_uring_submit(io_uring* ring) {
  ++kernel_entries;
  static const auto f = real<int (*)(io_uring*)>("io_uring_submit");
  return f(ring);
}
int io_uring_submit_and_wait(io_uring* ring, unsigned wait_nr) {
  ++kernel_entries;
  static const auto f = real<int (*)(io_uring*, unsigned)>("io_uring_submit_and_wait");
  return f(ring, wait_nr);
}
int io_uring_submit_and_get_events(io_uring* ring) {
  ++kernel_entries;
  static const auto f = real<int (*)(io_uring*)>("io_uring_submit_and_get_events");
  return f(ring);
}
int io_uring_get_events(io_uring* ring) {
  ++kernel_entries;
  static const auto f = real<int (*)(io_uring*)>("io_uring_get_events");
  return f(ring);
}
int io_uring_submit_and_wait_timeout(io_uring* ring, io_uring_cqe** cqe, unsigned wait_nr,
                                     __kernel_timespec* ts, sigset_t* sigmask) {
  ++kernel_entries;
  static const auto f = real<int (*)(io_uring*, io_uring_cqe**, unsigned, __kernel_timespec*,
                                     sigset_t*)>("io_uring_submit_and_wait_timeout");
  return f(ring, cqe, wait_nr, ts, sigmask);
}
}

namespace {

using namespace std::chrono_literals;
using corio::detail::io_request;

// An io_callback that records its answers.
struct recorder : corio::detail::io_callback {
  recorder() { complete = &record; }
  static void record(corio::detail::io_callback& cb, std::int32_t result) noexcept {
    auto& self = static_cast<recorder&>(cb);
    self.result = result;
    ++self.calls;
  }
  std::optional<std::int32_t> result;
  int calls = 0;
};

class completion_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = corio::detail::make_io_uring_engine();
    if (!e) GTEST_SKIP() << "no completion engine here: " << e.error().message();
    engine_ = std::move(*e);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv_), 0);
    engine_->open(input_, sv_[0]);
  }
  void TearDown() override {
    if (engine_) engine_->close(input_);
    engine_.reset();  // the ring goes first: nothing in flight may outlive it
    if (sv_[0] >= 0) ::close(sv_[0]);
    if (sv_[1] >= 0) ::close(sv_[1]);
  }
  // Waits (bounded) until `r` was answered; its answer, or 1 << 30 on timeout.
  int await(recorder& r) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!r.result && std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(engine_->wait(100ms));
    }
    return r.result ? *r.result : 1 << 30;
  }
  io_request request(io_request::kind k, void* data, std::size_t size, bool stream = false) {
    io_request r;
    r.op = k;
    r.fd = sv_[0];
    r.data = data;
    r.size = size;
    r.stream = stream;
    return r;
  }

  std::unique_ptr<corio::detail::completion_engine> engine_;
  corio::detail::socket_input input_;
  int sv_[2] = {-1, -1};
};

TEST_F(completion_test, recv_is_answered_once_through_its_callback) {
  std::vector<char> buf(16);
  recorder r;
  auto started = engine_->start(input_, request(io_request::kind::recv, buf.data(), buf.size()), r);
  ASSERT_TRUE(started);
  ASSERT_FALSE(*started) << "nothing was there yet";
  ASSERT_EQ(::write(sv_[1], "hello", 5), 5);
  EXPECT_EQ(await(r), 5);
  EXPECT_EQ(std::memcmp(buf.data(), "hello", 5), 0);
  EXPECT_TRUE(engine_->wait(10ms));
  EXPECT_EQ(r.calls, 1);
}

TEST_F(completion_test, send_is_answered_with_the_count) {
  char msg[] = "ping";
  recorder r;
  auto started = engine_->start(input_, request(io_request::kind::send, msg, 4), r);
  ASSERT_TRUE(started);
  EXPECT_EQ(await(r), 4);
  char got[8] = {};
  EXPECT_EQ(::read(sv_[1], got, sizeof got), 4);
}

// The second read finds the bytes the socket received ahead: answered at once, no callback.
TEST_F(completion_test, stream_read_is_answered_at_once_from_input_received_ahead) {
  char first[4] = {};
  recorder r;
  auto started = engine_->start(input_, request(io_request::kind::recv, first, 4, true), r);
  ASSERT_TRUE(started);
  ASSERT_FALSE(*started);
  ASSERT_EQ(::write(sv_[1], "abcdefgh", 8), 8);
  ASSERT_EQ(await(r), 4);
  EXPECT_EQ(std::memcmp(first, "abcd", 4), 0);
  char second[8] = {};
  recorder unused;
  auto now = engine_->start(input_, request(io_request::kind::recv, second, 8, true), unused);
  ASSERT_TRUE(now);
  ASSERT_TRUE(*now);
  EXPECT_EQ(**now, 4);
  EXPECT_EQ(std::memcmp(second, "efgh", 4), 0);
  EXPECT_EQ(unused.calls, 0);
}

// Safe cancellation: the buffer is the kernel's until the cancelled request's own answer
// arrives. Only then is it freed (ASan would report a write after free if the kernel kept it).
TEST_F(completion_test, cancelled_recv_is_answered_before_its_buffer_is_freed) {
  auto buf = std::make_unique<std::vector<char>>(4096);
  recorder r;
  ASSERT_TRUE(engine_->start(input_, request(io_request::kind::recv, buf->data(), buf->size()), r));
  EXPECT_FALSE(engine_->cancel(input_, r)) << "the kernel has it: an answer must follow";
  EXPECT_EQ(await(r), -ECANCELED);
  buf.reset();
  ASSERT_EQ(::write(sv_[1], "late", 4), 4);  // goes to no freed buffer: the socket keeps it
  char got[8] = {};
  EXPECT_EQ(::read(sv_[0], got, sizeof got), 4);
}

// A read waiting on input received ahead holds nothing in the kernel: withdrawn at once.
TEST_F(completion_test, stream_read_waiting_on_input_is_withdrawn_at_once) {
  char buf[8];
  recorder r;
  auto started = engine_->start(input_, request(io_request::kind::recv, buf, sizeof buf, true), r);
  ASSERT_TRUE(started);
  ASSERT_FALSE(*started);
  EXPECT_TRUE(engine_->cancel(input_, r));
  ASSERT_EQ(::write(sv_[1], "x", 1), 1);
  EXPECT_TRUE(engine_->wait(50ms));
  EXPECT_EQ(r.calls, 0) << "a withdrawn request is never answered";
}

TEST_F(completion_test, accept_is_answered_with_a_new_fd) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ASSERT_GE(l, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l, 4), 0);
  ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  corio::detail::socket_input listener;
  engine_->open(listener, l);
  sockaddr_storage peer{};
  std::uint32_t peer_len = sizeof peer;
  io_request req;
  req.op = io_request::kind::accept;
  req.fd = l;
  req.data = &peer;
  req.size = peer_len;
  req.addr_len = &peer_len;
  recorder r;
  auto started = engine_->start(listener, req, r);
  ASSERT_TRUE(started);
  ASSERT_FALSE(*started);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int fd = await(r);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(peer_len, sizeof(sockaddr_in));
  if (fd >= 0) ::close(fd);
  engine_->close(listener);
  ::close(c);
  ::close(l);
}

// A turn that does not block hands its requests over and takes the completions the kernel
// holds back in the same io_uring_enter (the engine used to take them in a call of their own
// first, then submit in a second).
TEST_F(completion_test, a_wait_that_does_not_block_enters_the_kernel_once) {
  char got[8] = {};
  recorder reader;
  auto parked = engine_->start(input_, request(io_request::kind::recv, got, sizeof got, true), reader);
  ASSERT_TRUE(parked);
  ASSERT_FALSE(*parked);
  ASSERT_TRUE(engine_->wait(0ns));  // the socket's receive goes to the kernel
  ASSERT_FALSE(reader.result);
  // Bytes arrive (the kernel holds their completion, or has posted it), and a send is queued.
  ASSERT_EQ(::write(sv_[1], "abc", 3), 3);
  char msg[] = "ping";
  recorder sender;
  auto sending = engine_->start(input_, request(io_request::kind::send, msg, 4), sender);
  ASSERT_TRUE(sending);
  ASSERT_FALSE(*sending);
  kernel_entries = 0;
  ASSERT_TRUE(engine_->wait(0ns));
  EXPECT_EQ(kernel_entries, 1);
  EXPECT_EQ(sender.result, 4);
  EXPECT_EQ(reader.result, 3);
  EXPECT_EQ(std::memcmp(got, "abc", 3), 0);
  kernel_entries = 0;
  ASSERT_TRUE(engine_->wait(0ns));
  EXPECT_EQ(kernel_entries, 0) << "nothing queued, nothing held: no call at all";
  EXPECT_EQ(sender.calls + reader.calls, 2);
}

}  // namespace
