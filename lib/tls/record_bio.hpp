// The ciphertext buffers between OpenSSL and the socket: a BIO whose reads take bytes the
// stream received and whose writes fill a buffer the stream sends. OpenSSL never sees the fd,
// so the stream can move the bytes with whichever backend the socket uses (epoll or io_uring).
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include <openssl/bio.h>

namespace corio::tls::detail {

// Big enough for a whole TLS record (16 KiB of payload plus header, MAC and padding), so a
// read never needs more than one buffer's worth to make progress.
inline constexpr std::size_t max_record = 16384 + 2048 + 5;

// Fixed-size byte queues: no allocation after construction. A buffer's bytes are consumed
// from the front and appended at the back; it is compacted only when empty (or on demand by
// its one owner), so a send the kernel is still reading from never sees its bytes move.
template <std::size_t N>
struct byte_queue {
  std::array<std::byte, N> bytes;
  std::size_t begin = 0;
  std::size_t end = 0;

  std::size_t size() const noexcept { return end - begin; }
  bool empty() const noexcept { return begin == end; }
  std::size_t room() const noexcept { return N - end; }
  std::span<const std::byte> data() const noexcept { return {bytes.data() + begin, size()}; }
  std::span<std::byte> space() noexcept { return {bytes.data() + end, room()}; }
  void consume(std::size_t n) noexcept {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  // Moves the bytes to the front; only when nothing else refers to them.
  void compact() noexcept;
};

struct record_buffers {
  byte_queue<max_record + 1024> in;       // received ciphertext, not yet decrypted
  byte_queue<2 * max_record + 512> out;   // encrypted records, not yet sent
  bool eof = false;                       // the peer closed its side of TCP
};

// A BIO over `buffers` (not owned; must outlive the BIO).
BIO* make_record_bio(record_buffers& buffers);

}  // namespace corio::tls::detail
