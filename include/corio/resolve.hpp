// Host names for coroutines: resolve a name to every address it has, and connect by name.
//
//   auto addrs = co_await corio::resolve("db.internal", 5432);   // result<vector<socket_address>>
//   auto s = co_await corio::connect("db.internal:5432");         // result<tcp_stream>
//   auto t = co_await corio::timeout(2s, corio::connect("[::1]:80"));
//
// Contracts and sharp edges:
// - Numeric addresses ("10.0.0.1", "::1", "[::1]") and "localhost" (127.0.0.1, as in
//   net/address.hpp) never touch the network and work in every build. Anything else needs the
//   resolver built in (-Dresolver, through c-ares): without it resolve reports
//   resolve_error::no_resolver.
// - Names are looked up by c-ares driven by this thread's executor: its sockets wait on the
//   reactor and its retransmissions on the timer wheel, so nothing blocks the loop. Each
//   resolve uses a fresh c-ares channel (it reads /etc/resolv.conf and, with hosts_file, the
//   hosts file once), so a lookup is not a steady-state operation: it allocates.
// - Both families are asked for (A and AAAA); the answer keeps the server's order per family,
//   v6 first, at most max_addresses. A truncated UDP answer is retried over TCP by c-ares.
// - Cancellation: a stop request (or corio::timeout) abandons the lookup at once with
//   operation_canceled (timed_out under timeout); nothing is left running.
// - connect(host_port) races the addresses, Happy Eyeballs style (RFC 8305): in connect_order
//   (families alternate, IPv6 first), each attempt starts once the previous one failed or
//   connect_options::attempt_delay (250 ms) after it started, whichever comes first, so a
//   silent address costs 250 ms, not its whole connect time. The first connection wins; the
//   other attempts are cancelled and awaited, and any socket they got is closed, before it
//   returns. If all fail, the error of the last to fail. A stop (or corio::timeout) cancels
//   every attempt: operation_canceled (timed_out under timeout).
// - Must run on a corio thread (the sockets register with its executor).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/task.hpp>
#include <corio/tcp.hpp>

namespace corio {

// Why a name did not resolve. timed_out compares equal to std::errc::timed_out.
enum class resolve_error {
  not_found = 1,   // NXDOMAIN: the name does not exist
  no_address,      // the name exists but has no A or AAAA record
  server_failure,  // SERVFAIL, or no server answered usefully
  refused,         // the server refused the query
  bad_response,    // malformed or truncated answer that could not be completed
  bad_name,        // empty, too long, or not a host name
  timed_out,       // no answer within timeout × tries
  no_resolver,     // corio was built without c-ares (-Dresolver=disabled)
  bad_server,      // resolve_options::servers did not parse
  failed,          // anything else c-ares reported
};

const std::error_category& resolve_category() noexcept;

inline std::error_code make_error_code(resolve_error e) noexcept {
  return {static_cast<int>(e), resolve_category()};
}

struct resolve_options {
  // "127.0.0.1:5353,[::1]:53": the servers to ask; empty means the system's (resolv.conf).
  std::string servers;
  // Per try, and how many tries per server (c-ares' retransmission schedule).
  std::chrono::milliseconds attempt_timeout{2000};
  int tries = 2;
  // Look in the hosts file before asking DNS (as getaddrinfo does).
  bool hosts_file = true;
  // Append resolv.conf's search domains to names with fewer than ndots dots.
  bool search_domains = true;
  std::size_t max_addresses = 32;
};

// Every address of `host` with `port`. Numeric hosts and "localhost" need no resolver.
task<result<std::vector<net::socket_address>>> resolve(std::string host, std::uint16_t port,
                                                       resolve_options options);
// With default options (a forwarding function, not a default argument: see connect below).
inline task<result<std::vector<net::socket_address>>> resolve(std::string host,
                                                              std::uint16_t port) {
  resolve_options defaults;
  return resolve(std::move(host), port, std::move(defaults));
}

// "host:port" or "[v6]:port" split; the port must be decimal 0..65535. Errors are
// net::address_error (missing_port, invalid_port, missing_bracket).
result<std::pair<std::string_view, std::uint16_t>> split_host_port(std::string_view host_port);

// Addresses in the order connect() tries them: families alternate, IPv6 first, each family
// keeping its own order.
std::vector<net::socket_address> connect_order(std::vector<net::socket_address> addresses);

struct connect_options {
  resolve_options resolve;
  // Per address; zero means none (the kernel's SYN retries, minutes). The whole connect is
  // bounded with corio::timeout.
  std::chrono::milliseconds attempt_timeout{0};
  // RFC 8305's Connection Attempt Delay: how long an attempt runs alone before the next
  // address's starts beside it (at once when it fails). Zero starts them all together.
  std::chrono::milliseconds attempt_delay{250};
};

// Races connection attempts to `addresses`, in the order given (see the top of this file;
// connect by name orders them with connect_order first). An empty list is
// resolve_error::no_address.
task<result<tcp_stream>> connect(std::vector<net::socket_address> addresses,
                                 connect_options options);
// Resolves and connects, racing the addresses (see the top of this file).
task<result<tcp_stream>> connect(std::string host_port, connect_options options);
task<result<tcp_stream>> connect(std::string host, std::uint16_t port, connect_options options);

// The same with default options. Not default arguments: with g++ 12, a coroutine's defaulted
// argument holding a std::string, in a co_await of another coroutine, reached the frame with
// its pointer into the caller's frame (ASan: a bad free when the frame went). These forward a
// named one instead.
inline task<result<tcp_stream>> connect(std::vector<net::socket_address> addresses) {
  connect_options defaults;
  return connect(std::move(addresses), std::move(defaults));
}
inline task<result<tcp_stream>> connect(std::string host_port) {
  connect_options defaults;
  return connect(std::move(host_port), std::move(defaults));
}
inline task<result<tcp_stream>> connect(std::string host, std::uint16_t port) {
  connect_options defaults;
  return connect(std::move(host), port, std::move(defaults));
}
// One address, with a deadline: timed_out when it passed (the attempt was cancelled).
task<result<tcp_stream>> connect(net::socket_address to, std::chrono::milliseconds limit);

}  // namespace corio

template <>
struct std::is_error_code_enum<corio::resolve_error> : std::true_type {};
