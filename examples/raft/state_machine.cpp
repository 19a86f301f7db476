#include "state_machine.hpp"

#include <charconv>
#include <cstring>
#include <limits>

namespace raft {

std::string encode_command(op o, std::string_view key, std::string_view value) {
  std::string c;
  c.push_back(static_cast<char>(o));
  const auto n = static_cast<std::uint32_t>(key.size());
  c.append(reinterpret_cast<const char*>(&n), 4);
  c.append(key);
  c.append(value);
  return c;
}

std::string kv_machine::apply(std::string_view c) {
  if (c.empty()) return "+OK";
  if (c.size() < 5) return "-ERR malformed command";
  std::uint32_t n = 0;
  std::memcpy(&n, c.data() + 1, 4);
  if (n > c.size() - 5) return "-ERR malformed command";
  const std::string_view key = c.substr(5, n);
  const std::string_view value = c.substr(5 + n);
  switch (static_cast<op>(c[0])) {
    case op::noop: return "+OK";
    case op::get: {
      auto it = data_.find(key);
      return it == data_.end() ? "_" : "$" + it->second;
    }
    case op::set: data_.insert_or_assign(std::string(key), std::string(value)); return "+OK";
    case op::del: {
      auto it = data_.find(key);
      if (it == data_.end()) return ":0";
      data_.erase(it);
      return ":1";
    }
    case op::incr: {
      auto it = data_.find(key);
      long long v = 0;
      if (it != data_.end()) {
        const auto& s = it->second;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || p != s.data() + s.size()) {
          return "-ERR value is not an integer or out of range";
        }
      }
      if (v == std::numeric_limits<long long>::max()) {
        return "-ERR increment or decrement would overflow";
      }
      ++v;
      const std::string text = std::to_string(v);
      data_.insert_or_assign(std::string(key), text);
      return ":" + text;
    }
  }
  return "-ERR unknown command";
}

}  // namespace raft
