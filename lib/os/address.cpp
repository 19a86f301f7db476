// ip_address and socket_address: numeric parsing, formatting, and the sockaddr byte layouts.
#include <corio/net/address.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>

namespace corio::net {
namespace {

static_assert(sizeof(sockaddr_storage) <= socket_address::capacity());
static_assert(sizeof(sockaddr_un) <= socket_address::capacity());
static_assert(alignof(sockaddr_storage) <= 8);

class address_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.address"; }

  std::string message(int value) const override {
    switch (static_cast<address_error>(value)) {
      case address_error::invalid_ip: return "not a numeric IPv4 or IPv6 address";
      case address_error::host_name_needs_resolver:
        return "host names are not resolved here; give a numeric address or \"localhost\"";
      case address_error::missing_port: return "missing \":port\"";
      case address_error::invalid_port: return "port is not a decimal number in 0..65535";
      case address_error::missing_bracket:
        return "an IPv6 address with a port must be bracketed, as in \"[::1]:80\"";
      case address_error::path_too_long: return "unix socket path does not fit sun_path";
      case address_error::empty_path: return "empty unix socket path or name";
      case address_error::path_contains_nul: return "unix socket path contains a NUL byte";
    }
    return "unknown address error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    if (static_cast<address_error>(value) == address_error::path_too_long)
      return std::errc::filename_too_long;
    return std::errc::invalid_argument;
  }
};

// Most bytes sun_path holds for a name we create: one is kept for the terminating NUL of a
// path (portable) or the leading NUL of an abstract name.
constexpr std::size_t max_unix_name = sizeof(sockaddr_un::sun_path) - 1;
constexpr std::size_t sun_path_offset = offsetof(sockaddr_un, sun_path);

sa_family_t raw_family(const socket_address& a) noexcept {
  if (a.size() < sizeof(sa_family_t)) return AF_UNSPEC;
  sa_family_t f;
  std::memcpy(&f, a.data(), sizeof f);
  return f;
}

template <class Sockaddr>
Sockaddr as(const socket_address& a) noexcept {
  Sockaddr s{};
  std::memcpy(&s, a.data(), std::min<std::size_t>(a.size(), sizeof s));
  return s;
}

bool is_abstract_unix(const socket_address& a) noexcept {
  return a.size() > sun_path_offset &&
         static_cast<const char*>(a.data())[sun_path_offset] == '\0';
}

bool looks_like_host_name(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}

result<std::uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  const char* end = s.data() + s.size();
  if (s.empty() || s.size() > 5) return make_error_code(address_error::invalid_port);
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc{} || ptr != end || value > 65535)
    return make_error_code(address_error::invalid_port);
  return static_cast<std::uint16_t>(value);
}

result<socket_address> make_unix(std::string_view name, bool abstract) {
  if (name.empty()) return make_error_code(address_error::empty_path);
  if (name.size() > max_unix_name) return make_error_code(address_error::path_too_long);
  if (!abstract && name.find('\0') != std::string_view::npos)
    return make_error_code(address_error::path_contains_nul);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path + (abstract ? 1 : 0), name.data(), name.size());
  socket_address out;
  std::memcpy(out.data(), &un, sizeof un);
  // Abstract names are exactly as long as given (trailing NULs would be part of the name);
  // paths carry their terminating NUL.
  out.resize(static_cast<std::uint32_t>(sun_path_offset + name.size() + 1));
  return out;
}

}  // namespace

const std::error_category& address_category() noexcept {
  static const address_category_impl instance;
  return instance;
}

// --- ip_address --------------------------------------------------------------------------------

ip_address ip_address::v4(std::array<std::uint8_t, 4> bytes) noexcept {
  ip_address a;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  return a;
}

ip_address ip_address::v6(std::array<std::uint8_t, 16> bytes) noexcept {
  ip_address a;
  a.bytes_ = bytes;
  a.v6_ = true;
  return a;
}

ip_address ip_address::loopback_v6() noexcept {
  std::array<std::uint8_t, 16> b{};
  b[15] = 1;
  return v6(b);
}

result<ip_address> ip_address::parse(std::string_view text) {
  if (text == "localhost") return loopback_v4();
  // inet_pton wants a NUL-terminated string; the longest numeric form fits INET6_ADDRSTRLEN.
  char buf[INET6_ADDRSTRLEN] = {};
  if (text.empty() || text.size() >= sizeof buf) {
    if (looks_like_host_name(text)) return make_error_code(address_error::host_name_needs_resolver);
    return make_error_code(address_error::invalid_ip);
  }
  std::memcpy(buf, text.data(), text.size());
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET, buf, bytes.data()) == 1) {
    return v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  }
  if (::inet_pton(AF_INET6, buf, bytes.data()) == 1) return v6(bytes);
  // Hex digits a-f can appear in v6, so only call it a host name when it is not v6-shaped.
  if (text.find(':') == std::string_view::npos && looks_like_host_name(text))
    return make_error_code(address_error::host_name_needs_resolver);
  return make_error_code(address_error::invalid_ip);
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buf, sizeof buf);
  return buf;
}

// --- socket_address ----------------------------------------------------------------------------

socket_address::socket_address(ip_address ip, std::uint16_t port) noexcept {
  if (ip.is_v4()) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, ip.bytes().data(), 4);
    std::memcpy(data(), &in, sizeof in);
    resize(sizeof in);
  } else {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    std::memcpy(&in6.sin6_addr, ip.bytes().data(), 16);
    std::memcpy(data(), &in6, sizeof in6);
    resize(sizeof in6);
  }
}

result<socket_address> socket_address::parse(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return make_error_code(address_error::invalid_ip);
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (rest.empty()) return make_error_code(address_error::missing_port);
    if (rest.front() != ':') return make_error_code(address_error::invalid_port);
    port = rest.substr(1);
    auto ip = ip_address::parse(host);
    if (!ip) return ip.error();
    if (!ip->is_v6()) return make_error_code(address_error::invalid_ip);
    auto p = parse_port(port);
    if (!p) return p.error();
    return socket_address(*ip, *p);
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    // Say "missing port" only when the rest is an address (or a name) worth having.
    auto ip = ip_address::parse(text);
    if (!ip) return ip.error();
    return make_error_code(address_error::missing_port);
  }
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (host.find(':') != std::string_view::npos) {
    // "::1" or "::1:80": a bare v6 address; a trailing group cannot be told from a port.
    if (ip_address::parse(text)) return make_error_code(address_error::missing_port);
    return make_error_code(address_error::missing_bracket);
  }
  auto ip = ip_address::parse(host);
  if (!ip) return ip.error();
  auto p = parse_port(port);
  if (!p) return p.error();
  return socket_address(*ip, *p);
}

result<socket_address> socket_address::unix_path(std::string_view path) {
  return make_unix(path, false);
}

result<socket_address> socket_address::unix_abstract(std::string_view name) {
  auto a = make_unix(name, true);
  if (a) a->resize(static_cast<std::uint32_t>(sun_path_offset + 1 + name.size()));
  return a;
}

address_family socket_address::family() const noexcept {
  switch (raw_family(*this)) {
    case AF_INET: return address_family::ipv4;
    case AF_INET6: return address_family::ipv6;
    case AF_UNIX: return address_family::unix_domain;
    default: return address_family::unspecified;
  }
}

std::uint16_t socket_address::port() const noexcept {
  switch (family()) {
    case address_family::ipv4: return ntohs(as<sockaddr_in>(*this).sin_port);
    case address_family::ipv6: return ntohs(as<sockaddr_in6>(*this).sin6_port);
    default: return 0;
  }
}

ip_address socket_address::ip() const noexcept {
  switch (family()) {
    case address_family::ipv4: {
      const auto in = as<sockaddr_in>(*this);
      std::array<std::uint8_t, 4> b{};
      std::memcpy(b.data(), &in.sin_addr, 4);
      return ip_address::v4(b);
    }
    case address_family::ipv6: {
      const auto in6 = as<sockaddr_in6>(*this);
      std::array<std::uint8_t, 16> b{};
      std::memcpy(b.data(), &in6.sin6_addr, 16);
      return ip_address::v6(b);
    }
    default: return {};
  }
}

bool socket_address::is_unnamed_unix() const noexcept {
  return family() == address_family::unix_domain && size() <= sun_path_offset;
}

std::string socket_address::to_string() const {
  switch (family()) {
    // Appended, not `"[" + s + "]:"`: g++ 12 at -O3 warns (-Wrestrict, a false positive,
    // GCC PR 105329) on a literal prepended to a std::string, which breaks -Dwerror release builds.
    case address_family::ipv4: return ip().to_string().append(":").append(std::to_string(port()));
    case address_family::ipv6: {
      std::string text("[");
      text.append(ip().to_string()).append("]:").append(std::to_string(port()));
      return text;
    }
    case address_family::unix_domain: {
      if (is_unnamed_unix()) return {};
      const char* path = static_cast<const char*>(data()) + sun_path_offset;
      const std::size_t len = size() - sun_path_offset;
      if (path[0] == '\0') return std::string("@").append(path + 1, len - 1);
      // The kernel may or may not count the terminating NUL; stop at it either way.
      return std::string(path, ::strnlen(path, len));
    }
    case address_family::unspecified: break;
  }
  return {};
}

bool socket_address::operator==(const socket_address& other) const noexcept {
  if (family() != other.family()) return false;
  switch (family()) {
    // Compared by meaning: flow info and scope id aside, the kernel fills padding bytes
    // differently from how we build them.
    case address_family::ipv4:
    case address_family::ipv6: return ip() == other.ip() && port() == other.port();
    case address_family::unix_domain:
      return is_abstract_unix(*this) == is_abstract_unix(other) && to_string() == other.to_string();
    case address_family::unspecified: return true;
  }
  return false;
}

}  // namespace corio::net
