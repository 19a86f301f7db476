// Raft's messages on the wire: one datagram each, little-endian fixed-width fields. Decoding
// checks every length against what arrived, so a short or garbled datagram is dropped whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace raft {

enum class msg_type : std::uint8_t {
  vote_request = 1, vote_reply, append_request, append_reply, client_request, client_reply
};

inline constexpr std::uint32_t no_node = 0xFFFF'FFFFu;
inline constexpr std::size_t max_message = 60000;

class writer {
 public:
  explicit writer(std::string& out) : out_(out) { out_.clear(); }
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { put(&v, 4); }
  void u64(std::uint64_t v) { put(&v, 8); }
  void bytes(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  std::size_t size() const noexcept { return out_.size(); }

 private:
  void put(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& out_;
};

class reader {
 public:
  explicit reader(std::span<const std::byte> in) : p_(in.data()), left_(in.size()) {}
  bool ok() const noexcept { return ok_; }
  bool done() const noexcept { return left_ == 0; }
  std::uint8_t u8() {
    std::uint8_t v = 0;
    get(&v, 1);
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    get(&v, 4);
    return v;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    get(&v, 8);
    return v;
  }
  std::string_view bytes() {
    const std::uint32_t n = u32();
    if (!ok_ || n > left_) {
      ok_ = false;
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    left_ -= n;
    return s;
  }

 private:
  void get(void* v, std::size_t n) {
    if (!ok_ || left_ < n) {
      ok_ = false;
      return;
    }
    std::memcpy(v, p_, n);
    p_ += n;
    left_ -= n;
  }
  const std::byte* p_;
  std::size_t left_;
  bool ok_ = true;
};

}  // namespace raft
