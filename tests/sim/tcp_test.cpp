// Simulated streams: the handshake, echo, the error codes of corio::tcp_stream (refused, eof,
// reset, aborted, broken pipe, busy, cancelled), half-close, crash and the reset fault,
// partitions (stall, then in order; a long one times out), flow control, and determinism.
#include <corio/sim.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <corio/runtime.hpp>
#include <corio/time.hpp>
#include <corio/when.hpp>

using namespace std::chrono_literals;
using corio::sim::world;
namespace net = corio::net;
namespace sim = corio::sim;

namespace {

constexpr std::uint16_t port = 80;

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
std::string text_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Two hosts, a client (0) and a server (1), with a fixed latency unless told otherwise.
struct two_hosts {
  explicit two_hosts(std::uint64_t seed, std::chrono::milliseconds latency = 5ms) : w(seed) {
    sim::link_faults f;
    f.latency_min = f.latency_max = latency;
    w.set_default_link(f);
    client = w.add_host();
    server = w.add_host();
  }
  net::socket_address server_at() const { return {w.address_of(server), port}; }
  net::ip_address client_ip() const { return w.address_of(client); }
  world w;
  sim::host_id client = 0;
  sim::host_id server = 0;
};

// Echoes every byte until end of stream, then ends its side too.
corio::task<> echo_server(net::socket_address at, int connections) {
  auto l = sim::tcp_listener::bind(at).value();
  for (int i = 0; i < connections; ++i) {
    auto accepted = co_await l.accept();
    if (!accepted) co_return;
    auto s = std::move(accepted->first);
    std::array<std::byte, 512> buf;
    for (;;) {
      auto n = co_await s.read(buf);
      if (!n || *n == 0) break;
      if (!co_await s.write_all(std::span(buf).first(*n))) break;
    }
    (void)s.shutdown_write();  // may fail after a reset: the loop above already saw why
  }
}

TEST(SimTcp, ConnectAcceptEchoWithAddressesAndLatency) {
  two_hosts t(1, 5ms);
  t.w.enable_trace(true);
  t.w.spawn(t.server, echo_server(t.server_at(), 1));
  std::string got;
  std::optional<net::socket_address> local, peer;
  std::chrono::nanoseconds connected_at{}, echoed_at{};
  t.w.spawn(t.client, [](two_hosts& t, std::string& got, std::optional<net::socket_address>& local,
                         std::optional<net::socket_address>& peer, std::chrono::nanoseconds& c,
                         std::chrono::nanoseconds& e) -> corio::task<> {
    auto s = co_await sim::tcp_stream::connect(t.server_at(), t.client_ip());
    if (!s) co_return;
    c = t.w.now();
    local = s->local_address().value();
    peer = s->peer_address().value();
    if (!co_await s->write_all(bytes_of("hello, world"))) co_return;
    std::array<std::byte, 12> buf;
    if (!co_await s->read_exact(buf)) co_return;
    e = t.w.now();
    got = text_of(buf);
  }(t, got, local, peer, connected_at, echoed_at));
  t.w.run_for(1s);
  EXPECT_EQ(got, "hello, world");
  ASSERT_TRUE(local && peer);
  EXPECT_EQ(local->ip(), t.client_ip());
  EXPECT_GE(local->port(), 49152);
  EXPECT_EQ(*peer, t.server_at());
  EXPECT_EQ(connected_at, 10ms);  // the SYN's round trip
  EXPECT_EQ(echoed_at, 20ms);     // and one more for the echo
  for (const char* kind : {"connect", "syn", "accept", "connected", "data"}) {
    EXPECT_NE(t.w.trace().find(kind), std::string::npos) << kind;
  }
}

TEST(SimTcp, ConnectToAPortNobodyListensOnIsRefusedAfterARoundTrip) {
  two_hosts t(2, 7ms);
  std::error_code ec;
  std::chrono::nanoseconds at{};
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& ec, std::chrono::nanoseconds& at) -> corio::task<> {
    auto s = co_await sim::tcp_stream::connect(t.server_at(), t.client_ip());
    ec = s.error();
    at = t.w.now();
  }(t, ec, at));
  t.w.run_for(1s);
  EXPECT_EQ(ec, std::errc::connection_refused);
  EXPECT_EQ(at, 14ms);
  EXPECT_EQ(t.w.stream_count(), 0u);
}

TEST(SimTcp, ConnectErrorsWithoutTheNetwork) {
  two_hosts t(3);
  std::error_code bad_from, no_host;
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& a, std::error_code& b) -> corio::task<> {
    a = (co_await sim::tcp_stream::connect(t.server_at(), net::ip_address::v4({10, 0, 0, 77}))).error();
    b = (co_await sim::tcp_stream::connect({net::ip_address::v4({192, 0, 2, 1}), 80}, t.client_ip())).error();
  }(t, bad_from, no_host));
  t.w.run_for(1s);
  EXPECT_EQ(bad_from, std::errc::address_not_available);
  EXPECT_EQ(no_host, std::errc::network_unreachable);
}

TEST(SimTcp, BindRules) {
  two_hosts t(4);
  auto l = sim::tcp_listener::bind(t.server_at());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->local_address().value(), t.server_at());
  EXPECT_EQ(sim::tcp_listener::bind(t.server_at()).error(), std::errc::address_in_use);
  EXPECT_EQ(sim::tcp_listener::bind({net::ip_address::v4({10, 0, 0, 9}), port}).error(),
            std::errc::address_not_available);
  // The port spaces of streams and datagrams are separate, as in a kernel.
  EXPECT_TRUE(sim::udp_socket::bind(t.server_at()));
  auto eph = sim::tcp_listener::bind({t.w.address_of(t.server), 0});
  ASSERT_TRUE(eph);
  EXPECT_GE(eph->local_address()->port(), 49152);
  l->close();
  EXPECT_EQ(l->local_address().error(), std::errc::bad_file_descriptor);
  EXPECT_TRUE(sim::tcp_listener::bind(t.server_at()));
}

// The client sends, half-closes, and still reads the server's answer, which comes after the
// server saw end of stream; then the client sees end of stream too.
TEST(SimTcp, HalfCloseEndsOneDirectionOnly) {
  two_hosts t(5);
  std::string server_got, client_got;
  std::error_code write_after_shutdown;
  bool client_eof = false;
  t.w.spawn(t.server, [](two_hosts& t, std::string& got) -> corio::task<> {
    auto l = sim::tcp_listener::bind(t.server_at()).value();
    auto a = co_await l.accept();
    if (!a) co_return;
    std::array<std::byte, 64> buf;
    for (;;) {
      auto n = co_await a->first.read(buf);
      if (!n || *n == 0) break;
      got += text_of(std::span(buf).first(*n));
    }
    (void)co_await a->first.write_all(bytes_of("got " + std::to_string(got.size())));
    a->first.close();
  }(t, server_got));
  t.w.spawn(t.client, [](two_hosts& t, std::string& got, std::error_code& wr, bool& eof) -> corio::task<> {
    auto s = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).value();
    (void)co_await s.write_all(bytes_of("twelve bytes"));
    EXPECT_TRUE(s.shutdown_write());
    EXPECT_TRUE(s.shutdown_write());  // twice is fine
    wr = (co_await s.write(bytes_of("x"))).error();
    std::array<std::byte, 64> buf;
    for (int i = 0; i < 10; ++i) {
      auto n = co_await s.read(buf);
      if (!n) co_return;
      if (*n == 0) {
        eof = true;
        co_return;
      }
      got += text_of(std::span(buf).first(*n));
    }
  }(t, client_got, write_after_shutdown, client_eof));
  t.w.enable_trace(true);
  t.w.run_for(1s);
  EXPECT_EQ(server_got, "twelve bytes");
  EXPECT_EQ(client_got, "got 12");
  EXPECT_TRUE(client_eof);
  EXPECT_EQ(write_after_shutdown, std::errc::broken_pipe);
  EXPECT_NE(t.w.trace().find("fin"), std::string::npos);
  EXPECT_EQ(t.w.stream_count(), 0u);  // both sides closed: the connection is gone
}

TEST(SimTcp, ReadExactAtEndOfStreamIsEndOfStream) {
  two_hosts t(6);
  std::error_code ec;
  t.w.spawn(t.server, [](two_hosts& t) -> corio::task<> {
    auto l = sim::tcp_listener::bind(t.server_at()).value();
    auto a = co_await l.accept();
    if (!a) co_return;
    (void)co_await a->first.write_all(bytes_of("abc"));
    a->first.close();
  }(t));
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& ec) -> corio::task<> {
    auto s = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).value();
    std::array<std::byte, 8> buf;
    ec = (co_await s.read_exact(buf)).error();
  }(t, ec));
  t.w.run_for(1s);
  EXPECT_EQ(ec, corio::error::end_of_stream);
}

// A client that connects, then reads until its stream fails; records the errors of its next
// read and write too.
struct reader_outcome {
  bool connected = false;
  std::error_code first;
  std::optional<std::size_t> read_after;
  std::error_code write_after;
};

corio::task<> read_until_failure(two_hosts& t, reader_outcome& out) {
  auto s = co_await sim::tcp_stream::connect(t.server_at(), t.client_ip());
  if (!s) co_return;
  out.connected = true;
  std::array<std::byte, 64> buf;
  for (int i = 0; i < 1000; ++i) {
    auto n = co_await s->read(buf);
    if (!n) {
      out.first = n.error();
      break;
    }
    if (*n == 0) break;
  }
  auto again = co_await s->read(buf);
  if (again) out.read_after = *again;
  out.write_after = (co_await s->write(bytes_of("x"))).error();
}

// The server accepts and then just holds its stream open.
corio::task<> hold_open(net::socket_address at) {
  auto l = sim::tcp_listener::bind(at).value();
  auto a = co_await l.accept();
  if (!a) co_return;
  (void)co_await corio::sleep_for(1h);
}

TEST(SimTcp, ACrashResetsThePeersStreams) {
  two_hosts t(7);
  t.w.enable_trace(true);
  t.w.spawn(t.server, hold_open(t.server_at()));
  reader_outcome out;
  t.w.spawn(t.client, read_until_failure(t, out));
  t.w.run_for(100ms);
  ASSERT_TRUE(out.connected);
  EXPECT_FALSE(out.first);
  t.w.crash(t.server);
  t.w.run_for(100ms);
  // Reported once, then the stream reads as ended and writes as a broken pipe (Linux's way).
  EXPECT_EQ(out.first, std::errc::connection_reset);
  EXPECT_EQ(out.read_after, std::optional<std::size_t>(0));
  EXPECT_EQ(out.write_after, std::errc::broken_pipe);
  EXPECT_NE(t.w.trace().find("reset"), std::string::npos);
  EXPECT_EQ(t.w.stream_count(), 0u);
}

TEST(SimTcp, ARestartedHostListensAgainOnItsPort) {
  world w(8);
  auto client = w.add_host();
  auto server = w.add_host([&w]() -> corio::task<> { co_await echo_server({w.address_of(1), port}, 100); });
  int echoed = 0;
  w.spawn(client, [](world& w, int& echoed) -> corio::task<> {
    for (int i = 0; i < 200; ++i) {
      auto s = co_await sim::tcp_stream::connect({w.address_of(1), port}, w.address_of(0));
      if (s) {
        std::array<std::byte, 4> buf;
        if (co_await s->write_all(bytes_of("ping")) && co_await s->read_exact(buf)) ++echoed;
      }
      (void)co_await corio::sleep_for(10ms);
    }
  }(w, echoed));
  w.run_for(200ms);
  const int before = echoed;
  EXPECT_GT(before, 5);
  w.crash(server);
  w.run_for(300ms);
  EXPECT_LE(echoed, before + 1);
  w.restart(server);
  w.run_for(300ms);
  EXPECT_GT(echoed, before + 5);
}

// One task of a host owns a stream and a listener, another task of that host awaits on the
// listener: the crash destroys both frames, the owner's first, and the waiter must not be
// resumed after it died. A task that belongs to no host, reading the stream, survives: the
// stream was closed under it, so its read ends with operation_aborted.
TEST(SimTcp, ACrashEndsOperationsThatOtherTasksAwaitOnItsSockets) {
  two_hosts t(19);
  t.w.spawn(t.server, hold_open(t.server_at()));
  struct shared {
    sim::tcp_stream* stream = nullptr;
    sim::tcp_listener* listener = nullptr;
  } on_client;
  std::error_code survivor_ec;
  int waiters_started = 0;
  bool waiter_resumed = false;
  t.w.spawn(t.client, [](two_hosts& t, shared& sh) -> corio::task<> {
    auto l = sim::tcp_listener::bind({t.client_ip(), 99}).value();
    auto s = co_await sim::tcp_stream::connect(t.server_at(), t.client_ip());
    if (!s) co_return;
    sh.listener = &l;
    sh.stream = &*s;
    (void)co_await corio::sleep_for(1h);
  }(t, on_client));
  t.w.run_for(50ms);
  ASSERT_TRUE(on_client.stream && on_client.listener);
  t.w.spawn(t.client, [](shared& sh, int& started, bool& resumed) -> corio::task<> {
    ++started;
    (void)co_await sh.listener->accept();
    resumed = true;
  }(on_client, waiters_started, waiter_resumed));
  auto survivor = corio::spawn([](shared& sh, std::error_code& ec, int& started) -> corio::task<> {
    ++started;
    std::array<std::byte, 8> buf;
    ec = (co_await sh.stream->read(buf)).error();
  }(on_client, survivor_ec, waiters_started));
  t.w.run_for(50ms);
  EXPECT_EQ(waiters_started, 2);
  t.w.crash(t.client);
  t.w.run_for(50ms);
  EXPECT_FALSE(waiter_resumed);
  EXPECT_EQ(survivor_ec, corio::error::operation_aborted);
  EXPECT_TRUE(survivor.is_finished());
}

// A connect given up (here by a timeout) before its answer leaves nothing behind.
TEST(SimTcp, ACancelledConnectLeavesNoConnection) {
  two_hosts t(20, 20ms);
  t.w.spawn(t.server, echo_server(t.server_at(), 10));
  std::error_code early, late;
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& early, std::error_code& late) -> corio::task<> {
    early = (co_await corio::timeout(5ms, sim::tcp_stream::connect(t.server_at(), t.client_ip()))).error();
    // Given up after its SYN arrived: the accepted side is reset.
    late = (co_await corio::timeout(30ms, sim::tcp_stream::connect(t.server_at(), t.client_ip()))).error();
  }(t, early, late));
  t.w.run_for(1s);
  EXPECT_EQ(early, std::errc::timed_out);
  EXPECT_EQ(late, std::errc::timed_out);
  EXPECT_EQ(t.w.stream_count(), 0u);
}

TEST(SimTcp, TheResetFaultResetsBothEnds) {
  two_hosts t(9);
  t.w.enable_trace(true);
  std::error_code server_side;
  t.w.spawn(t.server, [](two_hosts& t, std::error_code& ec) -> corio::task<> {
    auto l = sim::tcp_listener::bind(t.server_at()).value();
    auto a = co_await l.accept();
    if (!a) co_return;
    std::array<std::byte, 8> buf;
    ec = (co_await a->first.read(buf)).error();
  }(t, server_side));
  reader_outcome out;
  t.w.spawn(t.client, read_until_failure(t, out));
  EXPECT_FALSE(t.w.reset_random_stream());  // none yet
  t.w.run_for(100ms);
  ASSERT_TRUE(out.connected);
  EXPECT_EQ(t.w.stream_count(), 1u);
  EXPECT_FALSE(t.w.reset_stream({t.w.address_of(t.client), 1}, t.server_at()));  // no such
  EXPECT_TRUE(t.w.reset_random_stream());
  t.w.run_for(100ms);
  EXPECT_EQ(out.first, std::errc::connection_reset);
  EXPECT_EQ(server_side, std::errc::connection_reset);
  EXPECT_NE(t.w.trace().find("reset stream"), std::string::npos);
}

TEST(SimTcp, ResetStreamByAddresses) {
  two_hosts t(10);
  t.w.spawn(t.server, hold_open(t.server_at()));
  reader_outcome out;
  t.w.spawn(t.client, read_until_failure(t, out));
  t.w.run_for(100ms);
  ASSERT_TRUE(out.connected);
  // The client's port is the first ephemeral one.
  EXPECT_TRUE(t.w.reset_stream(t.server_at(), {t.client_ip(), 49152}));
  t.w.run_for(10ms);
  EXPECT_EQ(out.first, std::errc::connection_reset);
}

// Closing with input unread resets the peer instead of ending its stream cleanly.
TEST(SimTcp, CloseWithUnreadInputResetsThePeer) {
  two_hosts t(11);
  t.w.spawn(t.server, [](two_hosts& t) -> corio::task<> {
    auto l = sim::tcp_listener::bind(t.server_at()).value();
    auto a = co_await l.accept();
    if (!a) co_return;
    (void)co_await corio::sleep_for(50ms);  // the client's bytes arrived meanwhile, unread
    a->first.close();
  }(t));
  reader_outcome out;
  t.w.spawn(t.client, [](two_hosts& t, reader_outcome& out) -> corio::task<> {
    auto s = co_await sim::tcp_stream::connect(t.server_at(), t.client_ip());
    if (!s) co_return;
    out.connected = true;
    (void)co_await s->write_all(bytes_of("unread"));
    std::array<std::byte, 8> buf;
    out.first = (co_await s->read(buf)).error();
  }(t, out));
  t.w.run_for(1s);
  ASSERT_TRUE(out.connected);
  EXPECT_EQ(out.first, std::errc::connection_reset);
}

// Bytes sent to a stream its owner closed come back as a reset.
TEST(SimTcp, WritingToAClosedPeerEndsInAReset) {
  two_hosts t(12);
  t.w.spawn(t.server, [](two_hosts& t) -> corio::task<> {
    auto l = sim::tcp_listener::bind(t.server_at()).value();
    auto a = co_await l.accept();
    if (a) a->first.close();  // nothing unread: a clean FIN
  }(t));
  std::vector<std::error_code> errors;
  std::optional<std::size_t> first_read;
  t.w.spawn(t.client, [](two_hosts& t, std::vector<std::error_code>& errors,
                         std::optional<std::size_t>& first_read) -> corio::task<> {
    auto s = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).value();
    std::array<std::byte, 8> buf;
    auto n = co_await s.read(buf);
    if (n) first_read = *n;
    for (int i = 0; i < 5; ++i) {
      errors.push_back((co_await s.write(bytes_of("late"))).error());
      (void)co_await corio::sleep_for(20ms);
    }
  }(t, errors, first_read));
  t.w.run_for(1s);
  EXPECT_EQ(first_read, std::optional<std::size_t>(0));
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_FALSE(errors[0]);  // accepted locally; the RST comes a round trip later
  EXPECT_EQ(errors[1], std::errc::connection_reset);
  EXPECT_EQ(errors[2], std::errc::broken_pipe);
}

TEST(SimTcp, ClosingWhileAwaitingAbortsTheOperation) {
  two_hosts t(13);
  t.w.spawn(t.server, hold_open(t.server_at()));
  std::error_code read_ec, after_ec, accept_ec;
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& ec, std::error_code& after) -> corio::task<> {
    auto s = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).value();
    std::array<std::byte, 8> buf;
    auto closer = [](sim::tcp_stream& s) -> corio::task<> {
      (void)co_await corio::sleep_for(30ms);
      s.close();
    };
    auto [r, c] = co_await corio::when_all(s.read(buf), closer(s));
    (void)c;
    ec = r.error();
    after = (co_await s.read(buf)).error();
  }(t, read_ec, after_ec));
  t.w.spawn(t.server, [](two_hosts& t, std::error_code& ec) -> corio::task<> {
    auto l = sim::tcp_listener::bind({t.w.address_of(t.server), 81}).value();
    auto closer = [](sim::tcp_listener& l) -> corio::task<> {
      (void)co_await corio::sleep_for(30ms);
      l.close();
    };
    auto [a, c] = co_await corio::when_all(l.accept(), closer(l));
    (void)c;
    ec = a.error();
  }(t, accept_ec));
  t.w.run_for(1s);
  EXPECT_EQ(read_ec, corio::error::operation_aborted);
  EXPECT_EQ(after_ec, std::errc::bad_file_descriptor);
  EXPECT_EQ(accept_ec, corio::error::operation_aborted);
}

TEST(SimTcp, ReadsAreCancellableAndLoseNothingAndASecondReaderIsBusy) {
  two_hosts t(14);
  t.w.spawn(t.server, [](two_hosts& t) -> corio::task<> {
    auto l = sim::tcp_listener::bind(t.server_at()).value();
    auto a = co_await l.accept();
    if (!a) co_return;
    (void)co_await corio::sleep_for(200ms);
    (void)co_await a->first.write_all(bytes_of("late"));
    (void)co_await corio::sleep_for(1h);
  }(t));
  std::error_code timed, busy;
  std::string got;
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& timed, std::error_code& busy,
                         std::string& got) -> corio::task<> {
    auto s = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).value();
    std::array<std::byte, 8> buf, other;
    timed = (co_await corio::timeout(50ms, s.read(buf))).error();
    auto second = [](sim::tcp_stream& s, std::span<std::byte> b, std::error_code& ec) -> corio::task<> {
      ec = (co_await s.read(b)).error();
    };
    auto [n, ignored] = co_await corio::when_all(s.read(buf), second(s, other, busy));
    (void)ignored;
    if (n) got = text_of(std::span(buf).first(*n));
  }(t, timed, busy, got));
  t.w.run_for(1s);
  EXPECT_EQ(timed, std::errc::timed_out);
  EXPECT_EQ(busy, std::errc::device_or_resource_busy);
  EXPECT_EQ(got, "late");
}

// Record i: its number in 7 decimal digits and a NUL.
std::array<char, 8> record(int i) {
  std::array<char, 8> rec{};
  for (int d = 6; d >= 0; --d, i /= 10) rec[static_cast<std::size_t>(d)] = static_cast<char>('0' + i % 10);
  return rec;
}

// Numbered records over a stream: what the partition and flow-control tests send and check.
corio::task<> send_records(two_hosts& t, int n, std::chrono::milliseconds every, std::error_code& ec) {
  auto s = co_await sim::tcp_stream::connect(t.server_at(), t.client_ip());
  if (!s) {
    ec = s.error();
    co_return;
  }
  for (int i = 0; i < n; ++i) {
    const auto rec = record(i);
    if (auto r = co_await s->write_all(std::as_bytes(std::span(rec))); !r) {
      ec = r.error();
      co_return;
    }
    if (every.count() > 0) (void)co_await corio::sleep_for(every);
  }
  (void)s->shutdown_write();
}

corio::task<> receive_records(two_hosts& t, std::vector<int>& got, std::error_code& ec,
                              std::chrono::milliseconds pause = 0ms) {
  auto l = sim::tcp_listener::bind(t.server_at()).value();
  auto a = co_await l.accept();
  if (!a) co_return;
  if (pause.count() > 0) (void)co_await corio::sleep_for(pause);
  for (;;) {
    std::array<std::byte, 8> rec;
    if (auto r = co_await a->first.read_exact(rec); !r) {
      if (r.error() != corio::error::end_of_stream) ec = r.error();
      co_return;
    }
    got.push_back(std::atoi(reinterpret_cast<const char*>(rec.data())));
  }
}

void expect_in_order(const std::vector<int>& got, int n) {
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
}

TEST(SimTcp, APartitionStallsAStreamAndTheHealDeliversEverythingInOrder) {
  two_hosts t(15);
  corio::sim::link_faults f;  // jittery and lossy: TCP hides both
  f.latency_min = 1ms;
  f.latency_max = 30ms;
  f.loss = 0.1;
  t.w.set_default_link(f);
  t.w.enable_trace(true);
  std::vector<int> got;
  std::error_code send_ec, recv_ec;
  t.w.spawn(t.server, receive_records(t, got, recv_ec));
  t.w.spawn(t.client, send_records(t, 1000, 2ms, send_ec));
  t.w.run_for(500ms);
  const auto before = got.size();
  EXPECT_GT(before, 100u);
  t.w.partition({t.client});
  t.w.run_for(100ms);  // what was in flight when it began may still land (sent before the cut)
  const auto stalled = got.size();
  t.w.run_for(2s);
  EXPECT_EQ(got.size(), stalled);  // nothing gets through
  t.w.heal();
  t.w.run_for(5s);
  expect_in_order(got, 1000);
  EXPECT_FALSE(send_ec);
  EXPECT_FALSE(recv_ec);
  EXPECT_NE(t.w.trace().find("stall"), std::string::npos);
}

TEST(SimTcp, APartitionLongerThanGiveUpResetsTheStream) {
  two_hosts t(16);
  sim::stream_options o;
  o.give_up = 5s;
  t.w.set_stream_options(o);
  std::vector<int> got;
  std::error_code send_ec, recv_ec;
  t.w.spawn(t.server, receive_records(t, got, recv_ec));
  t.w.spawn(t.client, send_records(t, 100000, 10ms, send_ec));
  t.w.run_for(300ms);
  t.w.partition({t.server});
  t.w.run_for(4s);
  EXPECT_FALSE(send_ec);
  t.w.run_for(3s);
  EXPECT_EQ(send_ec, std::errc::timed_out);
  EXPECT_EQ(recv_ec, std::errc::connection_reset);
}

TEST(SimTcp, AConnectIntoAPartitionTimesOut) {
  two_hosts t(17);
  sim::stream_options o;
  o.give_up = 3s;
  t.w.set_stream_options(o);
  t.w.spawn(t.server, hold_open(t.server_at()));
  t.w.cut(t.client, t.server);
  std::error_code ec;
  std::chrono::nanoseconds at{};
  t.w.spawn(t.client, [](two_hosts& t, std::error_code& ec, std::chrono::nanoseconds& at) -> corio::task<> {
    ec = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).error();
    at = t.w.now();
  }(t, ec, at));
  t.w.run_for(10s);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(at, 3s);
  EXPECT_LT(at, 4s);
  EXPECT_EQ(t.w.stream_count(), 0u);
}

// A reader that pauses: the writer gets at most the stream's buffer ahead, then waits.
TEST(SimTcp, FlowControlKeepsAFastWriterWithinTheBuffer) {
  two_hosts t(18);
  sim::stream_options o;
  o.buffer = 4096;
  t.w.set_stream_options(o);
  std::vector<int> got;
  std::error_code send_ec, recv_ec;
  int sent = 0;
  t.w.spawn(t.server, receive_records(t, got, recv_ec, 2s));
  t.w.spawn(t.client, [](two_hosts& t, int& sent, std::error_code& ec) -> corio::task<> {
    auto s = (co_await sim::tcp_stream::connect(t.server_at(), t.client_ip())).value();
    for (int i = 0; i < 20000; ++i) {
      const auto rec = record(i);
      if (auto r = co_await s.write_all(std::as_bytes(std::span(rec))); !r) {
        ec = r.error();
        co_return;
      }
      ++sent;
    }
    (void)s.shutdown_write();
  }(t, sent, send_ec));
  t.w.run_for(1s);
  EXPECT_EQ(sent, 4096 / 8);  // exactly the buffer, and no more, while nobody reads
  EXPECT_TRUE(got.empty());
  t.w.run_for(10s);
  expect_in_order(got, 20000);
  EXPECT_FALSE(send_ec);
  EXPECT_FALSE(recv_ec);
}

// A little system under every stream fault, traced.
std::string stream_chatter(std::uint64_t seed) {
  world w(seed);
  w.enable_trace(true);
  sim::link_faults f;
  f.latency_min = 1ms;
  f.latency_max = 20ms;
  f.loss = 0.05;
  w.set_default_link(f);
  const auto server = w.add_host([&w]() -> corio::task<> { co_await echo_server({w.address_of(0), port}, 1000); });
  std::vector<int> echoed(3);
  for (int c = 0; c < 3; ++c) {
    const auto h = w.add_host();
    w.spawn(h, [](world& w, sim::host_id h, int& count) -> corio::task<> {
      for (int round = 0; round < 50; ++round) {
        auto s = co_await sim::tcp_stream::connect({w.address_of(0), port}, w.address_of(h));
        if (s) {
          for (int i = 0; i < 5; ++i) {
            std::array<std::byte, 16> buf{};
            if (!co_await s->write_all(buf) || !co_await s->read_exact(buf)) break;
            ++count;
          }
          (void)s->shutdown_write();
        }
        (void)co_await corio::sleep_for(std::chrono::milliseconds(5 + w.random_below(20)));
      }
    }(w, h, echoed[static_cast<std::size_t>(c)]));
  }
  w.run_for(300ms);
  w.partition({1});
  w.run_for(300ms);
  w.heal();
  (void)w.reset_random_stream();
  w.run_for(200ms);
  w.crash(server);
  w.run_for(100ms);
  w.restart(server);
  w.run_for(1s);
  std::string out = std::to_string(w.trace_digest()) + "\n" + w.trace();
  for (int e : echoed) out += std::to_string(e) + ",";
  return out;
}

TEST(SimTcpDeterminism, SameSeedSameTraceDifferentSeedDifferentTrace) {
  const std::string one = stream_chatter(42);
  if (std::getenv("SIM_TCP_SHOW_TRACE")) std::fputs(one.c_str(), stdout);
  EXPECT_EQ(one, stream_chatter(42));
  EXPECT_NE(one, stream_chatter(43));
  for (const char* kind : {"connect", "accept", "data", "fin", "reset", "stall", "crash"}) {
    EXPECT_NE(one.find(kind), std::string::npos) << kind;
  }
}

}  // namespace
