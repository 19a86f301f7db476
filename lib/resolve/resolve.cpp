// resolve() and connect() by name: what needs no resolver (numeric hosts, localhost, host:port
// splitting, the connect order) lives here; names go to resolve_detail::lookup.
#include <corio/resolve.hpp>

#include <algorithm>
#include <charconv>
#include <string>

#include <corio/time.hpp>

#include "resolve/lookup.hpp"

namespace corio {
namespace {

class resolve_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.resolve"; }
  std::string message(int ev) const override {
    switch (static_cast<resolve_error>(ev)) {
      case resolve_error::not_found: return "host name not found";
      case resolve_error::no_address: return "host name has no address";
      case resolve_error::server_failure: return "name server failure";
      case resolve_error::refused: return "name server refused the query";
      case resolve_error::bad_response: return "malformed name server response";
      case resolve_error::bad_name: return "not a valid host name";
      case resolve_error::timed_out: return "name lookup timed out";
      case resolve_error::no_resolver: return "host names need corio built with -Dresolver";
      case resolve_error::bad_server: return "invalid name server address";
      case resolve_error::failed: return "name lookup failed";
    }
    return "unknown resolve error";
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<resolve_error>(ev)) {
      case resolve_error::timed_out: return std::errc::timed_out;
      case resolve_error::bad_name:
      case resolve_error::bad_server: return std::errc::invalid_argument;
      case resolve_error::no_resolver: return std::errc::function_not_supported;
      default: return {ev, *this};
    }
  }
};

// RFC 1035 limits; labels are checked by the server, this only bounds what we send.
bool plausible_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
  });
}

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_impl category;
  return category;
}

task<result<std::vector<net::socket_address>>> resolve(std::string host, std::uint16_t port,
                                                       resolve_options options) {
  std::string_view bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  if (auto ip = net::ip_address::parse(bare)) {
    co_return std::vector<net::socket_address>{net::socket_address(*ip, port)};
  }
  if (!plausible_host_name(bare)) co_return make_error_code(resolve_error::bad_name);
  if (options.max_addresses == 0) options.max_addresses = 1;
  co_return co_await resolve_detail::lookup(std::string(bare), port, std::move(options));
}

result<std::pair<std::string_view, std::uint16_t>> split_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return make_error_code(net::address_error::missing_bracket);
    host = text.substr(0, close + 1);
    const auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return make_error_code(net::address_error::missing_port);
    port = rest.substr(1);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return make_error_code(net::address_error::missing_port);
    host = text.substr(0, colon);
    // "::1:80" is ambiguous: an IPv6 address with a port must be bracketed.
    if (host.find(':') != std::string_view::npos) {
      return make_error_code(net::address_error::missing_bracket);
    }
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return make_error_code(net::address_error::invalid_port);
  }
  return std::pair{host, static_cast<std::uint16_t>(value)};
}

std::vector<net::socket_address> connect_order(std::vector<net::socket_address> addresses) {
  std::vector<net::socket_address> v6;
  std::vector<net::socket_address> v4;
  for (auto& a : addresses) (a.family() == net::address_family::ipv6 ? v6 : v4).push_back(a);
  std::vector<net::socket_address> order;
  order.reserve(addresses.size());
  for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
    if (i < v6.size()) order.push_back(v6[i]);
    if (i < v4.size()) order.push_back(v4[i]);
  }
  return order;
}

task<result<tcp_stream>> connect(net::socket_address to, std::chrono::milliseconds limit) {
  if (limit <= std::chrono::milliseconds::zero()) co_return co_await tcp_stream::connect(to);
  co_return co_await timeout(limit, tcp_stream::connect(to));
}

task<result<tcp_stream>> connect(std::string host, std::uint16_t port, connect_options options) {
  auto addresses = co_await resolve(std::move(host), port, options.resolve);
  if (!addresses) co_return addresses.error();
  co_return co_await connect(connect_order(std::move(*addresses)), std::move(options));
}

task<result<tcp_stream>> connect(std::string host_port, connect_options options) {
  auto split = split_host_port(host_port);
  if (!split) co_return split.error();
  co_return co_await connect(std::string(split->first), split->second, std::move(options));
}

}  // namespace corio
