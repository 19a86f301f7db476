// Replies in RESP2, queued for one write. Small values are copied into the queue; larger
// ones are queued by reference (the store's values are immutable and shared), so a reply
// that names one big value many times (MGET k k k ...) costs a pointer per element, not a copy.
// next_chunk() hands the queue out in pieces of at most staging_size (big values whole),
// coalescing small pieces, so flushing costs few syscalls whatever the mix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

using value_ptr = std::shared_ptr<const std::string>;

class reply_writer {
 public:
  static constexpr std::size_t copy_limit = 256;           // values up to this are copied
  static constexpr std::size_t staging_size = 64 * 1024;   // coalesced write size

  void simple(std::string_view text);  // +text
  void error(std::string_view text);   // -text, CR and LF turned into spaces as Redis does
  void integer(std::int64_t n);
  void bulk(std::string_view bytes);
  void bulk(const value_ptr& value);   // a null pointer is the null bulk
  void null_bulk();
  void array(std::size_t n);

  bool empty() const noexcept { return head_.empty() && refs_.empty(); }
  // Bytes that a flush would write.
  std::size_t size() const noexcept { return head_.size() + ref_bytes_; }

  // The next bytes to write, empty when all were handed out; valid until the next call.
  std::string_view next_chunk();
  // Forgets everything queued (after a flush, or when the connection is lost).
  void clear() noexcept;

 private:
  struct ref {
    std::size_t offset;  // where in head_ the value goes
    value_ptr value;
  };
  std::string_view piece(std::size_t index) const noexcept;

  std::string head_;  // the protocol bytes and copied values
  std::vector<ref> refs_;
  std::size_t ref_bytes_ = 0;
  std::size_t cursor_ = 0;      // the piece next_chunk() is at: even = head_ part, odd = a ref
  std::size_t cursor_pos_ = 0;  // bytes of that piece already handed out
  std::string staging_;
};

}  // namespace kv
