// corio::unix_listener / unix_stream / unix_datagram over filesystem and abstract addresses.
#include <corio/unix.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "net/support.hpp"

namespace {

using corio::task;
using corio::unix_datagram;
using corio::unix_listener;
using corio::unix_stream;
using corio::net::socket_address;
using corio::test::bytes;
using corio::test::text;

// A fresh directory (mkdtemp), removed with what it holds.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "corio-unix-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  bool ok() const { return !path_.empty(); }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Distinct per test and process, so parallel runs do not collide in the abstract namespace.
std::string abstract_name(const char* what) {
  return std::string("corio-test-") + what + "-" + std::to_string(::getpid());
}

class unix_sockets : public corio::test::backend_test {};

task<> stream_echo(socket_address at) {
  auto listener = unix_listener::bind(at);
  CO_ASSERT_OK(listener);
  EXPECT_EQ(*listener->local_address(), at);
  auto client = co_await unix_stream::connect(at);
  CO_ASSERT_OK(client);
  auto accepted = co_await listener->accept();
  CO_ASSERT_OK(accepted);
  unix_stream& server = accepted->first;
  CO_ASSERT_OK(co_await client->write_all(bytes("over unix")));
  CO_ASSERT_OK(client->shutdown_write());
  std::array<std::byte, 9> got{};
  CO_ASSERT_OK(co_await server.read_exact(got));
  EXPECT_EQ(text(got), "over unix");
  std::array<std::byte, 1> more{};
  auto eof = co_await server.read(more);
  CO_ASSERT_OK(eof);
  EXPECT_EQ(*eof, 0u);
  CO_ASSERT_OK(co_await server.write_all(bytes("back")));
  std::array<std::byte, 4> reply{};
  CO_ASSERT_OK(co_await client->read_exact(reply));
  EXPECT_EQ(text(reply), "back");
}

TEST_P(unix_sockets, stream_over_a_filesystem_path) {
  temp_dir dir;
  ASSERT_TRUE(dir.ok());
  auto at = socket_address::unix_path(dir.file("s"));
  ASSERT_TRUE(at);
  run(stream_echo(*at));
}

TEST_P(unix_sockets, stream_over_an_abstract_name) {
  auto at = socket_address::unix_abstract(abstract_name("stream"));
  ASSERT_TRUE(at);
  run(stream_echo(*at));
}

TEST_P(unix_sockets, connect_to_a_missing_path_fails) {
  temp_dir dir;
  ASSERT_TRUE(dir.ok());
  auto at = socket_address::unix_path(dir.file("nobody"));
  ASSERT_TRUE(at);
  run([&]() -> task<> {
    auto s = co_await unix_stream::connect(*at);
    CO_ASSERT_TRUE(!s);
    EXPECT_EQ(s.error(), std::errc::no_such_file_or_directory) << s.error().message();
  }());
}

task<> send_all(unix_stream& s, std::span<const std::byte> data) {
  auto r = co_await s.write_all(data);
  EXPECT_TRUE(r) << r.error().message();
}

TEST_P(unix_sockets, pair_moves_megabytes) {
  run([]() -> task<> {
    auto p = unix_stream::pair();
    CO_ASSERT_OK(p);
    std::vector<std::byte> out(3 << 20);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::byte(static_cast<std::uint8_t>(i));
    auto writer = corio::spawn(send_all(p->first, out));
    std::vector<std::byte> in(out.size());
    CO_ASSERT_OK(co_await p->second.read_exact(in));
    co_await writer;
    EXPECT_TRUE(in == out);
  }());
}

task<> datagram_round_trip(socket_address server_at, socket_address client_at) {
  auto server = unix_datagram::bind(server_at);
  CO_ASSERT_OK(server);
  auto client = unix_datagram::bind(client_at);
  CO_ASSERT_OK(client);
  CO_ASSERT_OK(co_await client->send_to(bytes("question"), server_at));
  std::array<std::byte, 64> buf{};
  auto got = co_await server->recv_from(buf);
  CO_ASSERT_OK(got);
  EXPECT_EQ(text(std::span(buf).first(got->first)), "question");
  EXPECT_EQ(got->second, client_at);
  CO_ASSERT_OK(co_await server->send_to(bytes(""), got->second));  // empty datagrams count
  auto empty = co_await client->recv_from(buf);
  CO_ASSERT_OK(empty);
  EXPECT_EQ(empty->first, 0u);
}

TEST_P(unix_sockets, datagram_over_filesystem_paths) {
  temp_dir dir;
  ASSERT_TRUE(dir.ok());
  auto s = socket_address::unix_path(dir.file("server"));
  auto c = socket_address::unix_path(dir.file("client"));
  ASSERT_TRUE(s && c);
  run(datagram_round_trip(*s, *c));
}

TEST_P(unix_sockets, datagram_over_abstract_names) {
  auto s = socket_address::unix_abstract(abstract_name("dgram-server"));
  auto c = socket_address::unix_abstract(abstract_name("dgram-client"));
  ASSERT_TRUE(s && c);
  run(datagram_round_trip(*s, *c));
}

TEST_P(unix_sockets, datagram_pair_sends_and_receives) {
  run([]() -> task<> {
    auto p = unix_datagram::pair();
    CO_ASSERT_OK(p);
    CO_ASSERT_OK(co_await p->first.send(bytes("one")));
    std::array<std::byte, 8> buf{};
    auto n = co_await p->second.recv(buf);
    CO_ASSERT_OK(n);
    EXPECT_EQ(text(std::span(buf).first(*n)), "one");
  }());
}

CORIO_INSTANTIATE_BACKENDS(unix_sockets);

}  // namespace
