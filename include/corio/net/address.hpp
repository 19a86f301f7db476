// Value-type addresses: ip_address (v4 or v6) and socket_address (ip + port, or a unix path).
//
// Parsing is numeric only and never touches the network: "127.0.0.1:80", "[::1]:80", plus the
// name "localhost", which always means 127.0.0.1. A host name is rejected with
// address_error::host_name_needs_resolver, so a typo never turns into a hidden DNS query.
//
// socket_address stores the kernel's sockaddr bytes itself (no OS types here), so lib/os hands
// them to the kernel unchanged; the layout is sockaddr_in / sockaddr_in6 / sockaddr_un.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include <corio/error.hpp>

namespace corio::net {

// Why an address did not parse. Each maps to std::errc::invalid_argument (path_too_long to
// filename_too_long), so generic callers can compare conditions.
enum class address_error {
  invalid_ip = 1,            // not a numeric IPv4/IPv6 address
  host_name_needs_resolver,  // looks like a DNS name; corio does not resolve names here
  missing_port,              // "1.2.3.4" or "[::1]" without ":port"
  invalid_port,              // not 0..65535 in decimal
  missing_bracket,           // IPv6 with a port must be written "[::1]:80"
  path_too_long,             // does not fit sockaddr_un::sun_path
  empty_path,                // unix path or abstract name of zero length
  path_contains_nul,         // a filesystem path cannot hold NUL (abstract names can)
};

const std::error_category& address_category() noexcept;

inline std::error_code make_error_code(address_error e) noexcept {
  return {static_cast<int>(e), address_category()};
}

enum class address_family : std::uint8_t { unspecified, ipv4, ipv6, unix_domain };

class ip_address {
 public:
  // 0.0.0.0.
  ip_address() noexcept = default;

  static ip_address v4(std::array<std::uint8_t, 4> bytes) noexcept;
  static ip_address v6(std::array<std::uint8_t, 16> bytes) noexcept;
  static ip_address loopback_v4() noexcept { return v4({127, 0, 0, 1}); }
  static ip_address loopback_v6() noexcept;
  static ip_address any_v4() noexcept { return v4({0, 0, 0, 0}); }
  static ip_address any_v6() noexcept { return v6({}); }

  // Numeric IPv4 (dotted quad) or IPv6 (without brackets), or "localhost" (127.0.0.1).
  static result<ip_address> parse(std::string_view text);

  bool is_v4() const noexcept { return !v6_; }
  bool is_v6() const noexcept { return v6_; }
  // Network byte order; 4 bytes for v4, 16 for v6 (the rest of the array is zero for v4).
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }

  std::string to_string() const;
  bool operator==(const ip_address&) const noexcept = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  bool v6_ = false;
};

class socket_address {
 public:
  // Large enough for sockaddr_storage and sockaddr_un (checked by static_assert in lib/os).
  static constexpr std::uint32_t capacity() noexcept { return 128; }

  // family() == unspecified, size() == 0.
  socket_address() noexcept = default;
  socket_address(ip_address ip, std::uint16_t port) noexcept;

  // "127.0.0.1:80", "[::1]:80", "localhost:80". Never resolves names.
  static result<socket_address> parse(std::string_view text);
  // A filesystem path; longer than sun_path allows → path_too_long.
  static result<socket_address> unix_path(std::string_view path);
  // Linux abstract namespace: the name is stored after a leading NUL and is not a file.
  static result<socket_address> unix_abstract(std::string_view name);

  address_family family() const noexcept;
  // 0 for non-IP addresses.
  std::uint16_t port() const noexcept;
  // 0.0.0.0 for non-IP addresses.
  ip_address ip() const noexcept;
  // True for a unix address with neither path nor abstract name (an unbound or socketpair end).
  bool is_unnamed_unix() const noexcept;

  // "127.0.0.1:80", "[::1]:80", the path, "@name" for abstract, "" for unspecified/unnamed.
  std::string to_string() const;

  bool operator==(const socket_address& other) const noexcept;

  // Raw sockaddr bytes for lib/os: data() points at size() valid bytes out of capacity().
  const void* data() const noexcept { return bytes_.data(); }
  void* data() noexcept { return bytes_.data(); }
  std::uint32_t size() const noexcept { return size_; }
  // After the kernel filled data() (accept, recvfrom, getsockname); clamps to capacity().
  void resize(std::uint32_t n) noexcept { size_ = n < capacity() ? n : capacity(); }

 private:
  alignas(8) std::array<std::byte, 128> bytes_{};
  std::uint32_t size_ = 0;
};

// How a socket is bound (tcp_listener::bind, udp_socket::bind).
struct bind_options {
  int backlog = 1024;       // listeners only
  // SO_REUSEPORT: several sockets, typically one per worker thread, bind the same address and
  // the kernel spreads connections (by the peer's address and port) or datagrams among them.
  // Every socket of the group must set it. A connection still queued on a listener that
  // closes is reset.
  bool reuse_port = false;
};

}  // namespace corio::net

template <>
struct std::is_error_code_enum<corio::net::address_error> : std::true_type {};
