#include "tls/record_bio.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace corio::tls::detail {

template <std::size_t N>
void byte_queue<N>::compact() noexcept {
  if (begin == 0) return;
  std::memmove(bytes.data(), bytes.data() + begin, size());
  end -= begin;
  begin = 0;
}

template struct byte_queue<max_record + 1024>;
template struct byte_queue<2 * max_record + 512>;

namespace {

record_buffers& buffers_of(BIO* b) { return *static_cast<record_buffers*>(BIO_get_data(b)); }

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
  BIO_clear_retry_flags(b);
  auto& out = buffers_of(b).out;
  const std::size_t n = std::min(len, out.room());
  if (n == 0) {
    BIO_set_retry_write(b);  // the stream sends, then OpenSSL tries again
    return 0;
  }
  std::memcpy(out.space().data(), data, n);
  out.end += n;
  *written = n;
  return 1;
}

int bio_read(BIO* b, char* data, std::size_t len, std::size_t* read) {
  BIO_clear_retry_flags(b);
  auto& bufs = buffers_of(b);
  const std::size_t n = std::min(len, bufs.in.size());
  if (n == 0) {
    if (!bufs.eof) BIO_set_retry_read(b);  // the stream receives, then OpenSSL tries again
    return 0;                              // without retry: end of stream
  }
  std::memcpy(data, bufs.in.data().data(), n);
  bufs.in.consume(n);
  *read = n;
  return 1;
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // the stream flushes after every OpenSSL call that produced output
    case BIO_CTRL_PENDING:
      return static_cast<long>(buffers_of(b).in.size());
    case BIO_CTRL_WPENDING:
      return static_cast<long>(buffers_of(b).out.size());
    case BIO_CTRL_EOF:
      return buffers_of(b).eof && buffers_of(b).in.empty();
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) { return 1; }

BIO_METHOD* method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corio records");
    BIO_meth_set_write_ex(made, bio_write);
    BIO_meth_set_read_ex(made, bio_read);
    BIO_meth_set_ctrl(made, bio_ctrl);
    BIO_meth_set_create(made, bio_create);
    BIO_meth_set_destroy(made, bio_destroy);
    return made;
  }();
  return m;
}

}  // namespace

BIO* make_record_bio(record_buffers& buffers) {
  BIO* b = BIO_new(method());
  if (b) BIO_set_data(b, &buffers);
  return b;
}

}  // namespace corio::tls::detail
