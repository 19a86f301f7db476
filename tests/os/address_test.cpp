#include <corio/net/address.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using corio::net::address_error;
using corio::net::address_family;
using corio::net::ip_address;
using corio::net::socket_address;

TEST(ip_address, parses_dotted_quad) {
  auto ip = ip_address::parse("192.168.1.20");
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->is_v4());
  EXPECT_EQ(ip->to_string(), "192.168.1.20");
}

TEST(ip_address, parses_v6_without_brackets) {
  auto ip = ip_address::parse("2001:db8::1");
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->is_v6());
  EXPECT_EQ(ip->to_string(), "2001:db8::1");
  EXPECT_EQ(ip_address::parse("::1").value(), ip_address::loopback_v6());
}

TEST(ip_address, localhost_is_v4_loopback) {
  EXPECT_EQ(ip_address::parse("localhost").value(), ip_address::loopback_v4());
}

TEST(ip_address, named_constants_format_as_expected) {
  EXPECT_EQ(ip_address::loopback_v4().to_string(), "127.0.0.1");
  EXPECT_EQ(ip_address::loopback_v6().to_string(), "::1");
  EXPECT_EQ(ip_address::any_v4().to_string(), "0.0.0.0");
  EXPECT_EQ(ip_address::any_v6().to_string(), "::");
  EXPECT_NE(ip_address::any_v4(), ip_address::any_v6());
}

TEST(ip_address, rejects_non_canonical_and_garbage) {
  for (const char* bad : {"", "1.2.3", "127.1", "256.0.0.1", "1.2.3.4.5", " 1.2.3.4", "1::2::3"}) {
    auto ip = ip_address::parse(bad);
    ASSERT_FALSE(ip) << bad;
    EXPECT_EQ(ip.error(), address_error::invalid_ip) << bad;
  }
}

TEST(ip_address, host_names_are_rejected_with_a_resolver_error) {
  auto ip = ip_address::parse("example.com");
  ASSERT_FALSE(ip);
  EXPECT_EQ(ip.error(), address_error::host_name_needs_resolver);
  EXPECT_NE(ip.error().message().find("not resolved"), std::string::npos);
  EXPECT_EQ(ip.error(), std::errc::invalid_argument);
}

TEST(socket_address, default_is_unspecified) {
  socket_address a;
  EXPECT_EQ(a.family(), address_family::unspecified);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.to_string(), "");
}

TEST(socket_address, parses_v4_with_port) {
  auto a = socket_address::parse("127.0.0.1:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), address_family::ipv4);
  EXPECT_EQ(a->port(), 80);
  EXPECT_EQ(a->ip(), ip_address::loopback_v4());
}

TEST(socket_address, parses_bracketed_v6_with_port) {
  auto a = socket_address::parse("[::1]:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), address_family::ipv6);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->ip(), ip_address::loopback_v6());
}

TEST(socket_address, parses_localhost_as_v4_loopback) {
  auto a = socket_address::parse("localhost:65535");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, socket_address(ip_address::loopback_v4(), 65535));
}

TEST(socket_address, to_string_round_trips) {
  for (const char* text : {"127.0.0.1:80", "0.0.0.0:0", "[::1]:80", "[2001:db8::7]:65535", "[::]:1"}) {
    auto a = socket_address::parse(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->to_string(), text);
    EXPECT_EQ(socket_address::parse(a->to_string()).value(), *a);
  }
}

TEST(socket_address, missing_port_is_reported) {
  for (const char* bad : {"127.0.0.1", "[::1]", "::1", "localhost"}) {
    auto a = socket_address::parse(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error(), address_error::missing_port) << bad;
  }
}

TEST(socket_address, out_of_range_or_malformed_port_is_reported) {
  for (const char* bad : {"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:-1",
                          "127.0.0.1:8o", "127.0.0.1:+80", "[::1]:100000", "127.0.0.1:000080",
                          "[::1]x80"}) {
    auto a = socket_address::parse(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error(), address_error::invalid_port) << bad;
  }
}

TEST(socket_address, garbage_is_rejected) {
  for (const char* bad : {"", ":80", "[::1:80", "[127.0.0.1]:80", "1.2.3.4.5:80", "[]:80"}) {
    auto a = socket_address::parse(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error(), std::errc::invalid_argument) << bad;
  }
}

TEST(socket_address, unbracketed_v6_with_port_asks_for_brackets) {
  auto a = socket_address::parse("fe80::1:80:x");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), address_error::missing_bracket);
}

TEST(socket_address, dns_names_are_never_resolved) {
  for (const char* name : {"example.com:80", "my-host:443", "db_1:5432"}) {
    auto a = socket_address::parse(name);
    ASSERT_FALSE(a) << name;
    EXPECT_EQ(a.error(), address_error::host_name_needs_resolver) << name;
  }
}

TEST(socket_address, unix_path_keeps_the_path) {
  auto a = socket_address::unix_path("/tmp/corio.sock");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), address_family::unix_domain);
  EXPECT_EQ(a->to_string(), "/tmp/corio.sock");
  EXPECT_EQ(a->port(), 0);
  EXPECT_FALSE(a->is_unnamed_unix());
}

TEST(socket_address, unix_path_too_long_is_rejected) {
  const std::string longest(107, 'x');
  EXPECT_TRUE(socket_address::unix_path(longest));
  auto a = socket_address::unix_path(longest + "x");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), address_error::path_too_long);
  EXPECT_EQ(a.error(), std::errc::filename_too_long);
}

TEST(socket_address, unix_path_rejects_empty_and_embedded_nul) {
  EXPECT_EQ(socket_address::unix_path("").error(), address_error::empty_path);
  EXPECT_EQ(socket_address::unix_path(std::string_view("a\0b", 3)).error(),
            address_error::path_contains_nul);
}

TEST(socket_address, unix_abstract_formats_with_at_sign) {
  auto a = socket_address::unix_abstract("corio-test");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), address_family::unix_domain);
  EXPECT_EQ(a->to_string(), "@corio-test");
  EXPECT_NE(*a, socket_address::unix_path("@corio-test").value());
  EXPECT_EQ(*a, socket_address::unix_abstract("corio-test").value());
  EXPECT_FALSE(socket_address::unix_abstract(std::string(108, 'x')));
}

TEST(socket_address, equality_distinguishes_port_ip_and_family) {
  const socket_address a(ip_address::loopback_v4(), 80);
  EXPECT_EQ(a, socket_address(ip_address::loopback_v4(), 80));
  EXPECT_NE(a, socket_address(ip_address::loopback_v4(), 81));
  EXPECT_NE(a, socket_address(ip_address::any_v4(), 80));
  EXPECT_NE(a, socket_address(ip_address::loopback_v6(), 80));
}

}  // namespace
