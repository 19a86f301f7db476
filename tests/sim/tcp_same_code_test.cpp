// Protocol code written once: a line-echo handler templated on its stream (through corio's
// buffered_reader and buffered_writer) and a client templated on the network, run over real
// corio::tcp_stream on 127.0.0.1 and over corio::sim::tcp_stream, with the same answers. Also
// copy_bidirectional relaying between simulated streams.
#include <corio/sim.hpp>

#include <gtest/gtest.h>

#include <string>

#include <corio/runtime.hpp>
#include <corio/stream.hpp>
#include <corio/when.hpp>

#include "../net/support.hpp"

using namespace std::chrono_literals;
namespace net = corio::net;
namespace sim = corio::sim;

namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// The handler: "echo: <line>\n" per line, then its own end of stream.
template <class Stream>
corio::task<> serve_lines(Stream& s) {
  corio::buffered_reader in(s);
  corio::buffered_writer out(s);
  for (int i = 0; i < 100; ++i) {
    auto line = co_await in.read_line(256);
    if (!line) break;
    std::string reply = "echo: " + std::string(*line) + "\n";
    if (!co_await out.write(reply) || !co_await out.flush()) co_return;
  }
  (void)s.shutdown_write();  // the reply is complete; a failure here is the client's problem
}

template <class Net>
corio::task<> accept_and_serve(typename Net::tcp_listener& l) {
  auto a = co_await l.accept();
  if (!a) co_return;
  co_await serve_lines(a->first);
}

// The client: sends lines, half-closes, reads everything back.
template <class Net>
corio::task<std::string> ask(net::socket_address server, net::ip_address from) {
  auto s = co_await Net::connect(server, from);
  if (!s) co_return "connect: " + s.error().message();
  if (!co_await s->write_all(bytes_of("one\ntwo\r\nthree\n"))) co_return "write failed";
  if (!s->shutdown_write()) co_return "shutdown failed";
  std::string got;
  std::array<std::byte, 7> buf;  // small, so the reply comes in several reads
  for (int i = 0; i < 100; ++i) {
    auto n = co_await s->read(buf);
    if (!n) co_return "read: " + n.error().message();
    if (*n == 0) co_return got;
    got.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  co_return "no end of stream";
}

constexpr const char* expected = "echo: one\necho: two\necho: three\n";

class SameStreamCodeReal : public corio::test::backend_test {};

TEST_P(SameStreamCodeReal, RealTcpOnLoopback) {
  const std::string got = run([]() -> corio::task<std::string> {
    auto l = corio::tcp_listener::bind({net::ip_address::loopback_v4(), 0});
    if (!l) co_return "bind: " + l.error().message();
    const auto at = l->local_address().value();
    auto [served, answer] = co_await corio::when_all(
        accept_and_serve<corio::real_network>(*l),
        ask<corio::real_network>(at, net::ip_address::loopback_v4()));
    (void)served;
    co_return answer;
  }());
  EXPECT_EQ(got, expected);
}
CORIO_INSTANTIATE_BACKENDS(SameStreamCodeReal);

TEST(SameStreamCode, SimulatedTcp) {
  sim::world w(1);
  const auto client = w.add_host();
  const auto server = w.add_host();
  const net::socket_address at{w.address_of(server), 7};
  auto l = sim::tcp_listener::bind(at).value();
  std::string got;
  w.spawn(server, accept_and_serve<sim::network>(l));
  w.spawn(client, [](net::socket_address at, net::ip_address from, std::string& got) -> corio::task<> {
    got = co_await ask<sim::network>(at, from);
  }(at, w.address_of(client), got));
  w.run_for(1s);
  EXPECT_EQ(got, expected);
}

// client -> proxy -> echo server, the proxy being copy_bidirectional between two sim streams.
TEST(SameStreamCode, CopyBidirectionalRelaysSimulatedStreams) {
  sim::world w(2);
  const auto client = w.add_host();
  const auto proxy = w.add_host();
  const auto server = w.add_host();
  const net::socket_address server_at{w.address_of(server), 7};
  const net::socket_address proxy_at{w.address_of(proxy), 8};
  auto echo = sim::tcp_listener::bind(server_at).value();
  auto front = sim::tcp_listener::bind(proxy_at).value();
  w.spawn(server, accept_and_serve<sim::network>(echo));
  corio::result<corio::copy_counts> moved = std::make_error_code(std::errc::operation_in_progress);
  w.spawn(proxy, [](sim::tcp_listener& front, net::socket_address upstream, net::ip_address self,
                    corio::result<corio::copy_counts>& moved) -> corio::task<> {
    auto a = co_await front.accept();
    if (!a) co_return;
    auto up = co_await sim::tcp_stream::connect(upstream, self);
    if (!up) co_return;
    moved = co_await corio::copy_bidirectional(a->first, *up);
  }(front, server_at, w.address_of(proxy), moved));
  std::string got;
  w.spawn(client, [](net::socket_address at, net::ip_address from, std::string& got) -> corio::task<> {
    got = co_await ask<sim::network>(at, from);
  }(proxy_at, w.address_of(client), got));
  w.run_for(1s);
  EXPECT_EQ(got, expected);
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_EQ(moved->a_to_b, std::string("one\ntwo\r\nthree\n").size());
  EXPECT_EQ(moved->b_to_a, std::string(expected).size());
}

}  // namespace
