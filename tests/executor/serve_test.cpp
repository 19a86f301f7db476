// corio/serve.hpp: tcp_server and udp_server on every built backend, both distributions.
// Clients run on the test thread (block_on, or plain blocking sockets with receive timeouts);
// every wait is on a join, a condition with a bounded timeout, or a socket read, never a sleep.
#include <corio/serve.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include <cerrno>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/support.hpp"
#include "support/fd_table.hpp"
#include "support/sanitizers.hpp"

namespace {

using namespace std::chrono_literals;
using corio::accept_distribution;
using corio::backend_kind;
using corio::task;
using corio::tcp_stream;
using corio::net::socket_address;

constexpr std::size_t max_workers = 4;

socket_address loopback() { return {corio::net::ip_address::loopback_v4(), 0}; }

// What each test runs on: a backend, and (for TCP) a distribution.
using tcp_param = std::tuple<backend_kind, accept_distribution>;

std::string tcp_param_name(const ::testing::TestParamInfo<tcp_param>& info) {
  return std::string(corio::to_string(std::get<0>(info.param))) +
         (std::get<1>(info.param) == accept_distribution::reuse_port ? "_reuse_port"
                                                                      : "_round_robin");
}

bool backend_refused(backend_kind kind) {
  auto p = corio::poll::create(kind);
  return !p && p.error() == corio::error::backend_unavailable;
}

class serve_tcp : public ::testing::TestWithParam<tcp_param> {
 protected:
  void SetUp() override {
    if (backend_refused(backend())) GTEST_SKIP() << "kernel refuses " << corio::to_string(backend());
  }
  backend_kind backend() const { return std::get<0>(GetParam()); }
  accept_distribution distribution() const { return std::get<1>(GetParam()); }
  corio::runtime_options runtime_options(unsigned threads) const {
    corio::runtime_options o;
    o.backend = backend();
    o.threads = threads;
    return o;
  }
  corio::serve_options serve_options() const {
    corio::serve_options o;
    o.distribution = distribution();
    return o;
  }
  // Clients run here, on the test thread's own executor, with the same backend.
  template <class T>
  T client_side(task<T> t) {
    corio::runtime_options o;
    o.backend = backend();
    return corio::block_on(std::move(t), o);
  }
};

// Per worker: how many handlers started there.
struct worker_counts {
  std::array<std::atomic<int>, max_workers> started{};
  void count() { started.at(corio::runtime::current_index()).fetch_add(1); }
};

// Echoes until end of stream or cancellation; then ends in order: FIN after what was echoed,
// and unread input drained first, because closing over unread input sends a reset.
task<> echo(tcp_stream s) {
  std::array<std::byte, 4096> buf;
  for (unsigned round = 1;; ++round) {
    auto n = co_await s.read(buf);
    if (!n || *n == 0) break;
    if (!co_await s.write_all(std::span(buf).first(*n))) break;
    if (round % 16 == 0) co_await corio::yield();
  }
  (void)s.shutdown_write();
  for (int k = 0; k < 16 && s.raw().read(buf).value_or(0) > 0; ++k) {
  }
  s.close();
}

std::vector<std::byte> random_bytes(std::minstd_rand& rng, std::size_t n) {
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
  return v;
}

// Sends `payload` in random pieces from a task of its own while reading the echo here, then
// half-closes and expects end of stream. True when every byte came back in order.
task<bool> echo_client(socket_address at, unsigned seed) {
  std::minstd_rand rng(seed);
  const auto payload = random_bytes(rng, 1 + rng() % (192 * 1024));
  auto s = co_await tcp_stream::connect(at);
  if (!s) {
    ADD_FAILURE() << "connect: " << s.error().message();
    co_return false;
  }
  auto writer = [](tcp_stream& out, std::span<const std::byte> data, unsigned seed) -> task<bool> {
    std::minstd_rand pieces(seed);
    while (!data.empty()) {
      const auto n = std::min<std::size_t>(data.size(), 1 + pieces() % 20000);
      if (!co_await out.write_all(data.first(n))) co_return false;
      data = data.subspan(n);
    }
    co_return out.shutdown_write().has_value();
  };
  auto sent = corio::spawn(writer(*s, payload, seed + 1));  // *s outlives it: awaited below
  std::vector<std::byte> back(payload.size());
  auto got = co_await s->read_exact(back);
  std::array<std::byte, 1> more{};
  auto eof = co_await s->read(more);
  const bool wrote = co_await sent;
  EXPECT_TRUE(got) << got.error().message();
  EXPECT_TRUE(wrote);
  EXPECT_TRUE(eof && *eof == 0);
  co_return got && wrote && back == payload;
}

TEST_P(serve_tcp, spreads_connections_over_every_worker_and_echoes_every_byte) {
  static constexpr unsigned workers = 3;
  static constexpr int connections = 60;  // a multiple of `workers`
  corio::runtime rt(runtime_options(workers));
  worker_counts counts;
  auto server = corio::tcp_server::bind(rt, loopback(), serve_options());
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_EQ(server->workers(), workers);
  const auto at = server->local_address();
  ASSERT_NE(at.port(), 0);
  auto handler = [&counts](tcp_stream s) -> task<> {
    counts.count();
    co_await echo(std::move(s));
  };
  auto serving = rt.spawn_on(0, std::move(*server).serve(handler));

  const int echoed = client_side([](socket_address to) -> task<int> {
    std::vector<corio::join_handle<bool>> clients;
    for (int k = 0; k < connections; ++k) {
      clients.push_back(corio::spawn(echo_client(to, 1000u + static_cast<unsigned>(k))));
    }
    int ok = 0;
    for (auto& c : clients) ok += (co_await c) ? 1 : 0;
    co_return ok;
  }(at));
  EXPECT_EQ(echoed, connections);

  int total = 0;
  for (unsigned w = 0; w < workers; ++w) {
    const int n = counts.started[w].load();
    total += n;
    if (distribution() == accept_distribution::round_robin) {
      EXPECT_EQ(n, connections / static_cast<int>(workers)) << "worker " << w;
    } else {
      EXPECT_GT(n, 0) << "worker " << w;  // hashed: 60 connections miss a worker ~1e-10
    }
  }
  EXPECT_EQ(total, connections);
  serving.request_stop();
  auto r = serving.join();
  EXPECT_TRUE(r) << r.error().message();
}

// How a client's connection ended.
struct ending {
  int fin = 0;
  int reset = 0;
  int other = 0;
};

TEST_P(serve_tcp, stop_mid_traffic_ends_every_connection_with_a_fin) {
  static constexpr int connections = 24;
  corio::runtime rt(runtime_options(3));
  auto server = corio::tcp_server::bind(rt, loopback(), serve_options());
  ASSERT_TRUE(server) << server.error().message();
  const auto at = server->local_address();
  auto serving = rt.spawn_on(1, std::move(*server).serve(echo));

  // Every client echoes 1 KiB pieces until the server ends it; once all of them have had an
  // echo, the server is stopped from this (client) thread.
  struct shared {
    int warm = 0;
    corio::manual_reset_event all_warm;
    ending seen;
  } st;
  auto client = [](socket_address to, shared& st) -> task<> {
    auto s = co_await tcp_stream::connect(to);
    if (!s) {
      ++st.seen.other;
      co_return;
    }
    std::array<std::byte, 1024> piece{};
    std::array<std::byte, 1024> back{};
    for (int round = 0; round < 1'000'000; ++round) {
      piece[0] = static_cast<std::byte>(round);
      auto w = co_await s->write_all(piece);
      if (!w) break;  // the server went first; how it ended shows on the read below
      auto r = co_await s->read_exact(back);
      if (!r) {
        if (r.error() == corio::error::end_of_stream) {
          ++st.seen.fin;
        } else if (r.error() == std::errc::connection_reset) {
          ++st.seen.reset;
        } else {
          ++st.seen.other;
        }
        co_return;
      }
      EXPECT_EQ(back, piece);
      if (round == 0 && ++st.warm == connections) st.all_warm.set();
    }
    std::array<std::byte, 1024> rest{};
    for (int k = 0; k < 1024; ++k) {  // after a failed write: what is left, then FIN or RST
      auto n = co_await s->read(rest);
      if (n && *n > 0) continue;
      if (n) {
        ++st.seen.fin;
      } else if (n.error() == std::errc::connection_reset) {
        ++st.seen.reset;
      } else {
        ++st.seen.other;
      }
      co_return;
    }
    ++st.seen.other;
  };
  client_side([](socket_address to, shared& st, auto client,
                 corio::join_handle<corio::result<void>>& serving) -> task<> {
    std::vector<corio::join_handle<>> clients;
    for (int k = 0; k < connections; ++k) clients.push_back(corio::spawn(client(to, st)));
    (void)co_await st.all_warm.wait();
    serving.request_stop();  // from another thread than the server's: thread-safe
    for (auto& c : clients) co_await c;
  }(at, st, client, serving));
  auto r = serving.join();
  EXPECT_TRUE(r) << r.error().message();
  EXPECT_EQ(st.seen.fin, connections);
  EXPECT_EQ(st.seen.reset, 0);
  EXPECT_EQ(st.seen.other, 0);
}

// A plain blocking client with a 10 s receive timeout (a bound, not a synchronisation).
class blocking_client {
 public:
  explicit blocking_client(const socket_address& at) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    ::timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(at.port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<::sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~blocking_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Reads up to `n` bytes or end of stream; "<reset>" / "<errno N>" on failure.
  std::string read_until_eof_or(std::size_t n) {
    std::string got;
    while (got.size() < n) {
      char buf[4096];
      const ssize_t k = ::recv(fd_, buf, sizeof buf, 0);
      // With SO_RCVTIMEO, recv is not restarted: io_uring's task work on a thread that had a
      // ring (the backend probe) shows up here as EINTR without any signal.
      if (k < 0 && errno == EINTR) continue;
      if (k == 0) return got + "<eof>";
      if (k < 0) return got + (errno == ECONNRESET ? "<reset>" : "<errno " + std::to_string(errno) + ">");
      got.append(buf, static_cast<std::size_t>(k));
    }
    return got;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Connections the kernel completed before serve() ran, with input sent, and serve() stopped
// at once: each one ends with a FIN (accepted and cancelled, or taken from the backlog at the
// end), never a reset.
TEST_P(serve_tcp, connections_queued_when_it_stops_at_once_see_a_fin) {
  corio::runtime rt(runtime_options(2));
  auto server = corio::tcp_server::bind(rt, loopback(), serve_options());
  ASSERT_TRUE(server) << server.error().message();
  std::vector<std::unique_ptr<blocking_client>> clients;
  for (int k = 0; k < 8; ++k) {
    clients.push_back(std::make_unique<blocking_client>(server->local_address()));
    ASSERT_TRUE(clients.back()->connected());
    ASSERT_TRUE(clients.back()->send(std::string(100, 'q')));  // unread input at the end
  }
  auto never = [](tcp_stream s) -> task<> {  // cancelled at once: reads nothing
    std::array<std::byte, 1> b;
    (void)co_await s.read(b);
    co_await echo(std::move(s));
  };
  auto serving = rt.spawn_on(0, std::move(*server).serve(never));
  serving.request_stop();
  auto r = serving.join();
  EXPECT_TRUE(r) << r.error().message();
  for (auto& c : clients) {
    const auto got = c->read_until_eof_or(1 << 20);
    EXPECT_TRUE(got.ends_with("<eof>")) << got.substr(got.size() > 20 ? got.size() - 20 : 0);
  }
}

// Out of descriptors, the acceptor reports once per episode and waits accept_pause between
// tries: three failures take at least two pauses (a sleep never ends early, so this bound
// cannot fail on a slow machine; a spinning acceptor fails it by orders of magnitude). Once
// descriptors are free, the connections that waited are served.
TEST_P(serve_tcp, out_of_descriptors_it_pauses_between_tries_then_recovers) {
  if (CORIO_TEST_ASAN) {
    // The sanitizer build also has UBSan, whose vptr check reads /proc/self/maps on a type it
    // has not seen yet: with the fd table full that fails and it reports false type errors.
    GTEST_SKIP() << "needs a free fd table for UBSan's vptr check";
  }
  static constexpr auto pause = 20ms;
  corio::runtime rt(runtime_options(2));
  struct failure {
    std::size_t worker;
    std::chrono::steady_clock::time_point at;
    bool first;
    std::error_code ec;
  };
  std::mutex m;
  std::condition_variable changed;
  std::vector<failure> failures;
  std::atomic<int> served{0};
  auto options = serve_options();
  options.accept_pause = pause;
  options.on_accept_error = [&](std::error_code ec, bool first) {
    std::lock_guard lock(m);
    failures.push_back({corio::runtime::current_index(), std::chrono::steady_clock::now(), first, ec});
    changed.notify_all();
  };
  auto server = corio::tcp_server::bind(rt, loopback(), options);
  ASSERT_TRUE(server) << server.error().message();
  std::vector<std::unique_ptr<blocking_client>> clients;
  for (int k = 0; k < 4; ++k) {
    clients.push_back(std::make_unique<blocking_client>(server->local_address()));
    ASSERT_TRUE(clients.back()->connected());
    ASSERT_TRUE(clients.back()->send("x"));
  }
  auto handler = [&served](tcp_stream s) -> task<> {
    served.fetch_add(1);
    co_await echo(std::move(s));
  };
  corio::join_handle<corio::result<void>> serving = [&] {
    corio::test::fd_table_filler full;
    EXPECT_TRUE(full.ok());
    auto h = rt.spawn_on(0, std::move(*server).serve(handler));
    // Wait until one acceptor failed three times (bounded: 10 s).
    std::unique_lock lock(m);
    const bool three = changed.wait_for(lock, 10s, [&] {
      std::array<int, max_workers> per{};
      for (auto& f : failures) {
        if (++per.at(f.worker) == 3) return true;
      }
      return false;
    });
    EXPECT_TRUE(three) << failures.size() << " failures";
    return h;
  }();  // the filler is gone here: descriptors are free again
  {
    std::lock_guard lock(m);
    std::array<std::vector<failure>, max_workers> per;
    for (auto& f : failures) per.at(f.worker).push_back(f);
    for (auto& fs : per) {
      for (std::size_t i = 0; i < fs.size(); ++i) {
        EXPECT_EQ(fs[i].ec, std::errc::too_many_files_open) << fs[i].ec.message();
        EXPECT_EQ(fs[i].first, i == 0) << "failure " << i;  // once per episode
      }
      // Two pauses passed; asserting one leaves room for the timer's tick rounding.
      if (fs.size() >= 3) {
        EXPECT_GE(fs[2].at - fs[0].at, pause);
      }
    }
  }
  for (auto& c : clients) EXPECT_EQ(c->read_until_eof_or(1), "x");  // served after all
  EXPECT_EQ(served.load(), 4);
  serving.request_stop();
  auto r = serving.join();
  EXPECT_TRUE(r) << r.error().message();
}

TEST_P(serve_tcp, a_handler_exception_ends_the_server_and_is_rethrown) {
  corio::runtime rt(runtime_options(2));
  auto server = corio::tcp_server::bind(rt, loopback(), serve_options());
  ASSERT_TRUE(server);
  const auto at = server->local_address();
  auto boom = [](tcp_stream) -> task<> {
    throw std::runtime_error("boom");
    co_return;
  };
  auto serving = rt.spawn_on(0, std::move(*server).serve(boom));
  blocking_client c(at);
  ASSERT_TRUE(c.connected());
  EXPECT_THROW((void)serving.join(), std::runtime_error);
  EXPECT_EQ(c.read_until_eof_or(1), "<eof>");
}

TEST_P(serve_tcp, with_an_exception_callback_only_that_connection_ends) {
  corio::runtime rt(runtime_options(2));
  std::atomic<int> caught{0};
  auto options = serve_options();
  options.on_handler_exception = [&caught](std::exception_ptr) { caught.fetch_add(1); };
  auto server = corio::tcp_server::bind(rt, loopback(), options);
  ASSERT_TRUE(server);
  const auto at = server->local_address();
  // The peer's address is handed over too, when the handler takes it.
  auto picky = [](tcp_stream s, const socket_address& peer) -> task<> {
    EXPECT_EQ(peer, s.peer_address().value());
    std::array<std::byte, 1> b{};
    if (!co_await s.read_exact(b)) co_return;
    if (b[0] == std::byte{'!'}) throw std::runtime_error("boom");
    (void)co_await s.write_all(b);
    co_await echo(std::move(s));
  };
  auto serving = rt.spawn_on(0, std::move(*server).serve(picky));
  {
    blocking_client bad(at);
    ASSERT_TRUE(bad.send("!"));
    EXPECT_EQ(bad.read_until_eof_or(1), "<eof>");
  }
  blocking_client good(at);
  ASSERT_TRUE(good.send("y"));
  EXPECT_EQ(good.read_until_eof_or(1), "y");
  serving.request_stop();
  EXPECT_TRUE(serving.join());
  EXPECT_EQ(caught.load(), 1);  // after the join: the callback ran on another worker
}

INSTANTIATE_TEST_SUITE_P(
    backends, serve_tcp,
    ::testing::Combine(::testing::ValuesIn(corio::built_backends().begin(),
                                           corio::built_backends().end()),
                       ::testing::Values(accept_distribution::reuse_port,
                                         accept_distribution::round_robin)),
    tcp_param_name);

class serve_udp : public corio::test::backend_test {};

TEST_P(serve_udp, every_worker_echoes_on_its_own_socket) {
  static constexpr unsigned workers = 3;
  static constexpr int senders = 48;
  corio::runtime_options o;
  o.backend = GetParam();
  o.threads = workers;
  corio::runtime rt(o);
  std::array<std::atomic<int>, max_workers> handled{};
  auto server = corio::udp_server::bind(rt, loopback());
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_EQ(server->workers(), workers);
  const auto at = server->local_address();
  auto echo_datagrams = [&handled](corio::udp_socket& s) -> task<> {
    std::array<std::byte, 2048> buf;
    for (;;) {
      auto got = co_await s.recv_from(buf);
      if (!got) co_return;  // cancelled
      handled.at(corio::runtime::current_index()).fetch_add(1);
      (void)co_await s.send_to(std::span(buf).first(got->first), got->second);
    }
  };
  auto serving = rt.spawn_on(2, std::move(*server).serve(echo_datagrams));
  // Each sender is a socket of its own (its own port, so its own hash) and waits for every
  // reply; loopback does not drop these.
  const int answered = run([](socket_address to) -> task<int> {
    int ok = 0;
    for (int k = 0; k < senders; ++k) {
      auto s = corio::udp_socket::bind(loopback());
      if (!s) co_return -1;
      const std::array<std::byte, 3> msg{std::byte{1}, std::byte(k), std::byte{3}};
      if (!co_await s->send_to(msg, to)) continue;
      std::array<std::byte, 16> back{};
      auto got = co_await s->recv_from(back);
      if (got && got->first == msg.size() && got->second == to &&
          std::equal(msg.begin(), msg.end(), back.begin())) {
        ++ok;
      }
    }
    co_return ok;
  }(at));
  EXPECT_EQ(answered, senders);
  int total = 0;
  for (unsigned w = 0; w < workers; ++w) {
    EXPECT_GT(handled[w].load(), 0) << "worker " << w;  // hashed: a miss is ~1e-8
    total += handled[w].load();
  }
  EXPECT_EQ(total, senders);
  serving.request_stop();
  auto r = serving.join();
  EXPECT_TRUE(r) << r.error().message();
}

CORIO_INSTANTIATE_BACKENDS(serve_udp);

TEST(serve, bind_reports_what_it_cannot_do_up_front) {
  corio::runtime_options o;
  o.threads = 2;
  corio::runtime rt(o);
  corio::serve_options too_many;
  too_many.workers = 3;
  EXPECT_EQ(corio::tcp_server::bind(rt, loopback(), too_many).error(), std::errc::invalid_argument);
  // Without a runtime argument: only on a worker.
  EXPECT_EQ(corio::tcp_server::bind(loopback()).error(), std::errc::operation_not_permitted);
  auto on_worker = []() -> task<bool> {
    auto s = corio::tcp_server::bind(loopback());
    co_return s && s->workers() == 2;
  };
  EXPECT_TRUE(rt.spawn_on(1, on_worker()).join());
  // A port held by a socket without SO_REUSEPORT cannot be joined.
  auto held = corio::net::tcp_listener::bind(loopback()).value();
  EXPECT_EQ(corio::tcp_server::bind(rt, held.local_address().value()).error(),
            std::errc::address_in_use);
  // An empty server has nothing to serve.
  auto empty = [](tcp_stream) -> task<> { co_return; };
  auto r = rt.block_on(corio::tcp_server{}.serve(empty));
  EXPECT_EQ(r.error(), std::errc::bad_file_descriptor);
  auto limited = corio::udp_server::bind(rt, loopback(), {}, 1);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->workers(), 1u);
}

}  // namespace
