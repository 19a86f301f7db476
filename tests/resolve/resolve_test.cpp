// corio::resolve and connect by name, against dns_responder.hpp on 127.0.0.1 (never the
// machine's resolver), on every backend.
#include <chrono>
#include <string>
#include <vector>

#include <corio/resolve.hpp>
#include <corio/runtime.hpp>
#include <corio/time.hpp>

#include "../net/support.hpp"
#include "dns_responder.hpp"

namespace corio::test {
namespace {

using namespace std::chrono_literals;
using net::ip_address;
using net::socket_address;

const std::array<std::uint8_t, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

dns_responder zone() {
  dns_responder dns;
  dns.names["dual.test"] = {dns_name::behaviour::answer, {{127, 0, 0, 1}, {127, 0, 0, 2}},
                            {v6_loopback}};
  dns.names["v4.test"] = {dns_name::behaviour::answer, {{127, 0, 0, 3}}, {}};
  dns.names["v6.test"] = {dns_name::behaviour::answer, {}, {v6_loopback}};
  dns.names["empty.test"] = {dns_name::behaviour::answer, {}, {}};
  dns.names["gone.test"] = {dns_name::behaviour::nxdomain, {}, {}};
  dns.names["silent.test"] = {dns_name::behaviour::silent, {}, {}};
  dns.names["big.test"] = {dns_name::behaviour::truncated,
                           {{127, 0, 1, 1}, {127, 0, 1, 2}, {127, 0, 1, 3}}, {}};
  return dns;
}

resolve_options options_for(const dns_responder& dns) {
  resolve_options o;
  o.servers = dns.servers();
  o.hosts_file = false;
  o.search_domains = false;
  o.attempt_timeout = 1000ms;
  o.tries = 2;
  return o;
}

// Binds the responder (sockets register on the test's thread), runs `body` while it serves,
// then stops it and waits for it.
task<> with_responder(dns_responder& dns, task<> body) {
  auto bound = dns.bind();
  if (!bound) {
    ADD_FAILURE() << "dns bind: " << bound.error().message();
    co_return;
  }
  auto udp = spawn(dns.serve_udp());
  auto tcp = spawn(dns.serve_tcp());
  co_await std::move(body);
  udp.request_stop();
  tcp.request_stop();
  co_await udp;
  co_await tcp;
  dns.close();
}

std::vector<std::string> strings(const std::vector<socket_address>& v) {
  std::vector<std::string> out;
  for (const auto& a : v) out.push_back(a.to_string());
  return out;
}

TEST(split_host_port, accepts_names_v4_and_bracketed_v6) {
  auto a = split_host_port("db.internal:5432");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "db.internal");
  EXPECT_EQ(a->second, 5432);
  auto b = split_host_port("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "[::1]");
  EXPECT_EQ(split_host_port("host").error(), net::address_error::missing_port);
  EXPECT_EQ(split_host_port("host:").error(), net::address_error::invalid_port);
  EXPECT_EQ(split_host_port("host:65536").error(), net::address_error::invalid_port);
  EXPECT_EQ(split_host_port("host:8x").error(), net::address_error::invalid_port);
  EXPECT_EQ(split_host_port("::1:80").error(), net::address_error::missing_bracket);
  EXPECT_EQ(split_host_port("[::1:80").error(), net::address_error::missing_bracket);
  EXPECT_EQ(split_host_port("[::1]80").error(), net::address_error::missing_port);
}

TEST(connect_order, alternates_families_v6_first) {
  const socket_address a4(ip_address::v4({10, 0, 0, 1}), 1);
  const socket_address b4(ip_address::v4({10, 0, 0, 2}), 1);
  const socket_address c4(ip_address::v4({10, 0, 0, 3}), 1);
  const socket_address a6(ip_address::v6(v6_loopback), 1);
  const auto order = connect_order({a4, b4, a6, c4});
  EXPECT_EQ(strings(order), (std::vector<std::string>{"[::1]:1", "10.0.0.1:1", "10.0.0.2:1",
                                                      "10.0.0.3:1"}));
}

class resolve_test : public backend_test {};

TEST_P(resolve_test, numeric_hosts_and_localhost_need_no_server) {
  run([]() -> task<> {
    resolve_options o;
    o.servers = "127.0.0.1:1";  // would fail if it were asked
    o.hosts_file = false;
    auto v4 = co_await resolve("192.0.2.7", 80, o);
    CO_ASSERT_OK(v4);
    EXPECT_EQ(strings(*v4), std::vector<std::string>{"192.0.2.7:80"});
    auto v6 = co_await resolve("[::1]", 81, o);
    CO_ASSERT_OK(v6);
    EXPECT_EQ(strings(*v6), std::vector<std::string>{"[::1]:81"});
    auto local = co_await resolve("localhost", 82, o);
    CO_ASSERT_OK(local);
    EXPECT_EQ(strings(*local), std::vector<std::string>{"127.0.0.1:82"});
    EXPECT_EQ((co_await resolve("", 1, o)).error(), resolve_error::bad_name);
    EXPECT_EQ((co_await resolve("a b", 1, o)).error(), resolve_error::bad_name);
    EXPECT_EQ((co_await resolve(std::string(300, 'a'), 1, o)).error(), resolve_error::bad_name);
  }());
}

TEST_P(resolve_test, a_and_aaaa_v6_first) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto r = co_await resolve("dual.test", 443, options_for(dns));
    CO_ASSERT_OK(r);
    EXPECT_EQ(strings(*r),
              (std::vector<std::string>{"[::1]:443", "127.0.0.1:443", "127.0.0.2:443"}));
    auto upper = co_await resolve("DUAL.test", 1, options_for(dns));
    CO_ASSERT_OK(upper);
    EXPECT_EQ(upper->size(), 3u);
  }(dns)));
  EXPECT_GE(dns.udp_queries, 4);
}

TEST_P(resolve_test, one_family_only) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto v4 = co_await resolve("v4.test", 1, options_for(dns));
    CO_ASSERT_OK(v4);
    EXPECT_EQ(strings(*v4), std::vector<std::string>{"127.0.0.3:1"});
    auto v6 = co_await resolve("v6.test", 2, options_for(dns));
    CO_ASSERT_OK(v6);
    EXPECT_EQ(strings(*v6), std::vector<std::string>{"[::1]:2"});
  }(dns)));
}

TEST_P(resolve_test, nxdomain_and_no_records_are_distinct_errors) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto gone = co_await resolve("gone.test", 1, options_for(dns));
    CO_ASSERT_TRUE(!gone);
    EXPECT_EQ(gone.error(), resolve_error::not_found) << gone.error().message();
    auto empty = co_await resolve("empty.test", 1, options_for(dns));
    CO_ASSERT_TRUE(!empty);
    EXPECT_EQ(empty.error(), resolve_error::no_address) << empty.error().message();
  }(dns)));
}

TEST_P(resolve_test, silent_server_times_out_on_schedule) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto o = options_for(dns);
    o.attempt_timeout = 100ms;
    o.tries = 2;
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await resolve("silent.test", 1, o);
    const auto took = std::chrono::steady_clock::now() - start;
    CO_ASSERT_TRUE(!r);
    EXPECT_EQ(r.error(), resolve_error::timed_out) << r.error().message();
    EXPECT_TRUE(r.error() == std::errc::timed_out);
    EXPECT_GE(took, 150ms);  // c-ares retried once before giving up
    EXPECT_LT(took, 3s);
  }(dns)));
  EXPECT_GE(dns.udp_queries, 2);
}

TEST_P(resolve_test, truncated_answer_falls_back_to_tcp) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto r = co_await resolve("big.test", 7, options_for(dns));
    CO_ASSERT_OK(r);
    EXPECT_EQ(strings(*r), (std::vector<std::string>{"127.0.1.1:7", "127.0.1.2:7",
                                                     "127.0.1.3:7"}));
  }(dns)));
  EXPECT_GE(dns.tcp_queries, 1);
}

TEST_P(resolve_test, timeout_cancels_a_pending_lookup) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto o = options_for(dns);
    o.attempt_timeout = 10s;  // c-ares alone would wait this long
    const auto start = std::chrono::steady_clock::now();
    auto r = co_await timeout(100ms, resolve("silent.test", 1, o));
    const auto took = std::chrono::steady_clock::now() - start;
    CO_ASSERT_TRUE(!r);
    EXPECT_TRUE(r.error() == std::errc::timed_out) << r.error().message();
    EXPECT_LT(took, 2s);
    // The channel was torn down: a lookup right after works normally.
    auto next = co_await resolve("v4.test", 1, options_for(dns));
    EXPECT_TRUE(next);
  }(dns)));
}

TEST_P(resolve_test, bad_server_list_is_reported) {
  run([]() -> task<> {
    resolve_options o;
    o.servers = "not an address";
    o.hosts_file = false;
    auto r = co_await resolve("example.test", 1, o);
    CO_ASSERT_TRUE(!r);
    EXPECT_EQ(r.error(), resolve_error::bad_server);
  }());
}

TEST_P(resolve_test, connect_by_name_falls_through_to_the_address_that_listens) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    auto listener = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK(listener);
    const auto port = listener->local_address().value().port();
    connect_options o;
    o.resolve = options_for(dns);
    // dual.test is [::1] first (nothing listens there), then 127.0.0.1.
    auto s = co_await connect("dual.test:" + std::to_string(port), o);
    CO_ASSERT_OK(s);
    auto peer = s->peer_address();
    CO_ASSERT_OK(peer);
    EXPECT_EQ(peer->to_string(), "127.0.0.1:" + std::to_string(port));
    auto accepted = co_await listener->accept();
    EXPECT_TRUE(accepted);
  }(dns)));
}

TEST_P(resolve_test, connect_reports_the_last_failure_and_name_errors) {
  auto dns = zone();
  run(with_responder(dns, [](dns_responder& dns) -> task<> {
    std::uint16_t closed_port = 0;
    {
      auto l = tcp_listener::bind({ip_address::loopback_v4(), 0});
      CO_ASSERT_OK(l);
      closed_port = l->local_address().value().port();
    }
    connect_options o;
    o.resolve = options_for(dns);
    auto refused = co_await connect("v4.test:" + std::to_string(closed_port), o);
    CO_ASSERT_TRUE(!refused);
    auto numeric = co_await connect("127.0.0.1:" + std::to_string(closed_port), o);
    CO_ASSERT_TRUE(!numeric);
    EXPECT_EQ(numeric.error(), std::errc::connection_refused) << numeric.error().message();
    auto gone = co_await connect("gone.test:80", o);
    EXPECT_EQ(gone.error(), resolve_error::not_found);
    auto no_port = co_await connect("gone.test", o);
    EXPECT_EQ(no_port.error(), net::address_error::missing_port);
  }(dns)));
}

TEST_P(resolve_test, connect_with_a_deadline) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind({ip_address::loopback_v4(), 0});
    CO_ASSERT_OK(listener);
    auto s = co_await connect(listener->local_address().value(), 1000ms);
    EXPECT_TRUE(s);
  }());
}

CORIO_INSTANTIATE_BACKENDS(resolve_test);

}  // namespace
}  // namespace corio::test
