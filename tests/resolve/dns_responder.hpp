// A tiny authoritative DNS server for the resolver tests, on 127.0.0.1 (UDP and TCP on one
// port), run as two tasks on the test's own executor: the resolver under test never reaches
// the machine's resolver, and every answer is decided here.
//
// Names (lower case): each has A and AAAA records and a behaviour:
//   answer     - the records (an empty list is NOERROR without answers)
//   nxdomain   - rcode 3
//   silent     - no reply at all (the client's timeout)
//   truncated  - over UDP: TC bit and no records; over TCP: the records
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <corio/tcp.hpp>
#include <corio/udp.hpp>
#include <corio/task.hpp>

namespace corio::test {

struct dns_name {
  enum class behaviour { answer, nxdomain, silent, truncated };
  behaviour how = behaviour::answer;
  std::vector<std::array<std::uint8_t, 4>> a;
  std::vector<std::array<std::uint8_t, 16>> aaaa;
};

class dns_responder {
 public:
  std::map<std::string, dns_name> names;
  int udp_queries = 0;
  int tcp_queries = 0;

  // Binds UDP on an ephemeral port, then TCP on the same number (retried if that is taken).
  result<void> bind() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto u = udp_socket::bind({net::ip_address::loopback_v4(), 0});
      if (!u) return u.error();
      auto at = u->local_address();
      if (!at) return at.error();
      auto t = tcp_listener::bind(*at);
      if (!t) continue;
      udp_ = std::move(*u);
      tcp_ = std::move(*t);
      port_ = at->port();
      return {};
    }
    return std::make_error_code(std::errc::address_in_use);
  }

  // Before the executor goes: the sockets are registered with it.
  void close() noexcept {
    udp_.close();
    tcp_.close();
  }

  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }

  // Runs until cancelled.
  task<> serve_udp() {
    std::array<std::byte, 512> query;
    for (;;) {
      auto got = co_await udp_.recv_from(query);
      if (!got) co_return;
      ++udp_queries;
      auto reply = answer(std::span(query).first(got->first), false);
      if (!reply) continue;
      (void)co_await udp_.send_to(std::as_bytes(std::span(*reply)), got->second);  // best effort
    }
  }

  task<> serve_tcp() {
    for (;;) {
      auto accepted = co_await tcp_.accept();
      if (!accepted) co_return;
      tcp_stream& s = accepted->first;
      for (int k = 0; k < 16; ++k) {  // a connection carries a few queries at most here
        std::array<std::byte, 2> len;
        if (!co_await s.read_exact(len)) break;
        const std::size_t n = (std::to_integer<std::size_t>(len[0]) << 8) |
                              std::to_integer<std::size_t>(len[1]);
        std::array<std::byte, 512> query;
        if (n > query.size() || !co_await s.read_exact(std::span(query).first(n))) break;
        ++tcp_queries;
        auto reply = answer(std::span(query).first(n), true);
        if (!reply) continue;
        std::vector<std::uint8_t> framed;
        put16(framed, static_cast<unsigned>(reply->size()));
        for (std::uint8_t b : *reply) framed.push_back(b);
        if (!co_await s.write_all(std::as_bytes(std::span(framed)))) break;
      }
    }
  }

 private:
  static void put16(std::vector<std::uint8_t>& out, unsigned v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v & 0xff));
  }

  // The reply to one query, or nothing (silent, or not a query we understand).
  std::optional<std::vector<std::uint8_t>> answer(std::span<const std::byte> raw, bool tcp) {
    auto q = [&](std::size_t i) { return std::to_integer<std::uint8_t>(raw[i]); };
    if (raw.size() < 12 || (q(2) & 0x80) || q(4) != 0 || q(5) != 1) return std::nullopt;
    std::size_t at = 12;
    std::string name;
    while (at < raw.size() && q(at) != 0) {
      const std::size_t len = q(at);
      if (len > 63 || at + 1 + len >= raw.size()) return std::nullopt;
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < len; ++i) {
        char c = static_cast<char>(q(at + 1 + i));
        name += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      at += 1 + len;
    }
    if (at + 5 > raw.size()) return std::nullopt;
    const unsigned qtype = (q(at + 1) << 8) | q(at + 2);
    const std::size_t question_end = at + 5;

    const auto it = names.find(name);
    const dns_name* entry = it == names.end() ? nullptr : &it->second;
    if (entry && entry->how == dns_name::behaviour::silent) return std::nullopt;
    const bool nx = !entry || entry->how == dns_name::behaviour::nxdomain;
    const bool truncate = entry && entry->how == dns_name::behaviour::truncated && !tcp;

    std::vector<std::vector<std::uint8_t>> records;
    if (!nx && !truncate) {
      if (qtype == 1) {
        for (const auto& a : entry->a) records.emplace_back(a.begin(), a.end());
      } else if (qtype == 28) {
        for (const auto& a : entry->aaaa) records.emplace_back(a.begin(), a.end());
      }
    }
    std::vector<std::uint8_t> out;
    out.push_back(q(0));
    out.push_back(q(1));
    out.push_back(static_cast<std::uint8_t>(0x84 | (truncate ? 0x02 : 0) | (q(2) & 0x01)));
    out.push_back(static_cast<std::uint8_t>(0x80 | (nx ? 3 : 0)));
    put16(out, 1);
    put16(out, static_cast<unsigned>(records.size()));
    put16(out, 0);
    put16(out, 0);
    for (std::size_t i = 12; i < question_end; ++i) out.push_back(q(i));
    for (const auto& rdata : records) {
      put16(out, 0xc00c);  // the name: a pointer to the question's
      put16(out, qtype);
      put16(out, 1);        // IN
      put16(out, 0);
      put16(out, 60);       // TTL
      put16(out, static_cast<unsigned>(rdata.size()));
      for (std::uint8_t b : rdata) out.push_back(b);
    }
    return out;
  }

  udp_socket udp_;
  tcp_listener tcp_;
  std::uint16_t port_ = 0;
};

}  // namespace corio::test
