// The backend's completion verbs (submit, and completions reported by wait), run once per built
// backend: readiness-only backends say so, completion backends run recv/send/accept and cancel.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "reactor/backend.hpp"

namespace {

using namespace std::chrono_literals;
using corio::detail::completion_request;

class completion_test : public ::testing::TestWithParam<corio::backend_kind> {
 protected:
  void SetUp() override {
    auto b = corio::detail::make_backend(GetParam());
    ASSERT_TRUE(b) << b.error().message();
    backend_ = std::move(*b);
    if (!backend_->supports_completions()) GTEST_SKIP() << "readiness-only backend";
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv_), 0);
  }
  void TearDown() override {
    backend_.reset();  // the ring goes first: nothing in flight may outlive it
    if (sv_[0] >= 0) ::close(sv_[0]);
    if (sv_[1] >= 0) ::close(sv_[1]);
  }
  // Waits (bounded) for the completion of `user_data`; its result, or 1 << 30 on timeout.
  int await(std::uint64_t user_data) {
    corio::events evs(8);
    corio::detail::completions done(8);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(backend_->wait(evs, &done, 100ms));
      for (const auto& c : done) {
        if (c.user_data == user_data) return c.result;
      }
    }
    return 1 << 30;
  }

  std::unique_ptr<corio::detail::backend> backend_;
  int sv_[2] = {-1, -1};
};

TEST_P(completion_test, recv_completes_with_the_bytes) {
  std::vector<char> buf(16);
  completion_request r{completion_request::kind::recv, sv_[0], buf.data(), buf.size(), nullptr, 0, 8};
  ASSERT_TRUE(backend_->submit(r));
  ASSERT_EQ(::write(sv_[1], "hello", 5), 5);
  EXPECT_EQ(await(8), 5);
  EXPECT_EQ(std::memcmp(buf.data(), "hello", 5), 0);
}

TEST_P(completion_test, send_completes_with_the_count) {
  const char msg[] = "ping";
  completion_request s{completion_request::kind::send, sv_[0], const_cast<char*>(msg), 4, nullptr, MSG_NOSIGNAL, 16};
  ASSERT_TRUE(backend_->submit(s));
  EXPECT_EQ(await(16), 4);
  char got[8] = {};
  EXPECT_EQ(::read(sv_[1], got, sizeof got), 4);
}

// Safe cancellation: the buffer is the kernel's until the cancelled operation's own completion
// arrives. Only then is it freed (ASan would report a write after free if the kernel kept it).
TEST_P(completion_test, cancelled_recv_completes_before_its_buffer_is_freed) {
  auto buf = std::make_unique<std::vector<char>>(4096);
  completion_request r{completion_request::kind::recv, sv_[0], buf->data(), buf->size(), nullptr, 0, 24};
  ASSERT_TRUE(backend_->submit(r));
  completion_request c{completion_request::kind::cancel, -1, nullptr, 0, nullptr, 0, 24};
  ASSERT_TRUE(backend_->submit(c));
  EXPECT_EQ(await(24), -ECANCELED);
  buf.reset();
  ASSERT_EQ(::write(sv_[1], "late", 4), 4);  // goes to no freed buffer: the socket keeps it
  char got[8] = {};
  EXPECT_EQ(::read(sv_[0], got, sizeof got), 4);
}

TEST_P(completion_test, accept_completes_with_a_new_fd) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(l, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l, 4), 0);
  ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  completion_request r{completion_request::kind::accept, l, &peer, 0, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC, 32};
  ASSERT_TRUE(backend_->submit(r));
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int fd = await(32);
  EXPECT_GE(fd, 0);
  if (fd >= 0) ::close(fd);
  ::close(c);
  ::close(l);
}

std::string name(const ::testing::TestParamInfo<corio::backend_kind>& info) {
  return std::string(corio::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(built, completion_test, ::testing::ValuesIn(corio::built_backends()), name);

}  // namespace
