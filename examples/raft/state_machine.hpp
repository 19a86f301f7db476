// The replicated state machine: a small key-value store. Commands are encoded once, by the
// leader that accepts them, and applied in log order on every node; replies are RESP-shaped
// ("+OK", ":3", "$value", "_" for nil, "-ERR ...") so a client port can forward them as they are.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raft {

enum class op : std::uint8_t { noop = 0, get, set, del, incr };

// op byte, key length (u32), key, value. An empty string is the leader's no-op.
std::string encode_command(op o, std::string_view key, std::string_view value = {});

class kv_machine {
 public:
  std::string apply(std::string_view command);
  const std::map<std::string, std::string, std::less<>>& data() const noexcept { return data_; }

 private:
  std::map<std::string, std::string, std::less<>> data_;
};

}  // namespace raft
