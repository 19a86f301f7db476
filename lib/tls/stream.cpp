// corio::tls::stream: OpenSSL's state machine driven by tcp_stream's awaitables. Each
// operation calls OpenSSL until it stops asking: "want read" receives into the input buffer,
// "want write" (and any output it left) sends the output buffer. OpenSSL never blocks and
// never sees the socket, so a cancelled wait leaves it exactly where it asked for bytes.
#include <algorithm>
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <corio/runtime.hpp>
#include <corio/time.hpp>

#include "tls/internal.hpp"

namespace corio::tls {

namespace detail {
int stream_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
}  // namespace detail

stream::impl::~impl() { SSL_free(ssl); }  // frees the record BIO too

namespace {

enum class step { handshake, read, write, shutdown };

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Sends the output buffer until it is empty. If another task is already sending it, that task
// sends these bytes too (it loops until the buffer is empty).
task<result<void>> flush_out(stream::impl& s) {
  if (s.flushing) co_return result<void>();
  s.flushing = true;
  while (!s.buffers.out.empty()) {
    auto n = co_await s.tcp.write(s.buffers.out.data());
    if (!n) {
      s.flushing = false;
      co_return n.error();
    }
    s.buffers.out.consume(*n);
  }
  s.flushing = false;
  co_return result<void>();
}

// Receives more ciphertext (or the end of the stream) into the input buffer.
task<result<void>> fill(stream::impl& s) {
  auto& in = s.buffers.in;
  if (in.room() < 4096) in.compact();  // only the one reader touches the input buffer
  if (in.room() == 0) co_return make_error_code(error::protocol_error);  // cannot happen: OpenSSL
                                                                          // takes whole records
  auto n = co_await s.tcp.read(in.space());
  if (!n) co_return n.error();
  if (*n == 0) {
    s.buffers.eof = true;
  } else {
    in.end += *n;
  }
  co_return result<void>();
}

// Room for one whole record before SSL_write, so that OpenSSL never has to stop half-way
// through one: an SSL_write that returned "want write" would have to be repeated with the same
// bytes, which a cancelled caller could not promise.
task<result<void>> make_room(stream::impl& s) {
  for (int rounds = 0; s.buffers.out.room() < detail::max_record; ++rounds) {
    if (!s.flushing) {
      s.buffers.out.compact();
      if (s.buffers.out.room() >= detail::max_record) break;
      if (auto f = co_await flush_out(s); !f) co_return f;
    } else {
      // The reader is sending protocol output (an alert, a key update answer): rare and
      // short. Let it run.
      co_await corio::yield();
      if (rounds > 100000) co_return make_error_code(std::errc::timed_out);
    }
  }
  co_return result<void>();
}

// Calls OpenSSL for `k` until it completes; the result is the byte count of a read or write.
task<result<std::size_t>> drive(stream::impl& s, step k, std::span<std::byte> in,
                                std::span<const std::byte> out) {
  if (!s.ssl) co_return make_error_code(std::errc::bad_file_descriptor);
  // OpenSSL reports a zero-length read or write as a failure; for a stream it is a no-op.
  if ((k == step::read && in.empty()) || (k == step::write && out.empty())) co_return 0u;
  if (k == step::write) {
    if (auto r = co_await make_room(s); !r) co_return r.error();
  }
  const bool handshaking = k == step::handshake || !SSL_is_init_finished(s.ssl);
  while (true) {
    ERR_clear_error();
    std::size_t done = 0;
    int r = 0;
    switch (k) {
      case step::handshake:
        r = SSL_do_handshake(s.ssl);
        break;
      case step::read:
        r = SSL_read_ex(s.ssl, in.data(), in.size(), &done);
        break;
      case step::write:
        r = SSL_write_ex(s.ssl, out.data(), out.size(), &done);
        break;
      case step::shutdown:
        // 0: our close_notify is written (the peer's not yet seen), which is all we wait for.
        r = s.close_notify_sent ? 1 : SSL_shutdown(s.ssl);
        if (r >= 0) r = 1;
        break;
    }
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl, r);
    if (err == SSL_ERROR_NONE) {
      if (k == step::shutdown) s.close_notify_sent = true;
      if (k == step::read && s.renegotiation_seen) {
        co_return detail::classify(s, SSL_ERROR_SSL, false);
      }
      if (!s.buffers.out.empty()) {
        auto f = co_await flush_out(s);
        // A write's bytes are encrypted and committed: a cancelled send still reports them
        // (the rest of their ciphertext leaves with the next write, flush or shutdown).
        if (!f && !(k == step::write && f.error() == std::errc::operation_canceled)) {
          co_return f.error();
        }
      }
      co_return done;
    }
    switch (err) {
      case SSL_ERROR_WANT_READ: {
        // What OpenSSL wrote so far (a handshake flight) must reach the peer before we wait
        // for its answer.
        if (!s.buffers.out.empty()) {
          if (auto f = co_await flush_out(s); !f) co_return f.error();
        }
        if (auto f = co_await fill(s); !f) co_return f.error();
        break;
      }
      case SSL_ERROR_WANT_WRITE: {
        if (s.buffers.out.empty()) co_return make_error_code(error::protocol_error);
        if (auto f = co_await make_room(s); !f) co_return f.error();
        if (auto f = co_await flush_out(s); !f) co_return f.error();
        break;
      }
      case SSL_ERROR_ZERO_RETURN: {
        if (k == step::read) co_return std::size_t{0};  // close_notify: a clean end
        s.detail = "the peer sent close_notify";
        co_return make_error_code(handshaking ? error::handshake_failed : error::truncated);
      }
      default: {
        const std::error_code ec = detail::classify(s, err, handshaking);
        // OpenSSL may have queued an alert telling the peer why; send it if the socket lets us
        // at once (never wait on a failing connection).
        if (!s.buffers.out.empty() && !s.flushing) {
          auto sent = s.tcp.raw().write(s.buffers.out.data());
          if (sent) s.buffers.out.consume(*sent);
        }
        co_return ec;
      }
    }
  }
}

task<result<std::size_t>> fail_now(std::error_code ec) { co_return ec; }

task<result<void>> as_void(task<result<std::size_t>> t) {
  auto r = co_await std::move(t);
  if (!r) co_return r.error();
  co_return result<void>();
}

const std::string& empty_string() {
  static const std::string empty;
  return empty;
}

}  // namespace

stream::stream() noexcept = default;
stream::stream(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}
stream::stream(stream&&) noexcept = default;
stream& stream::operator=(stream&&) noexcept = default;
stream::~stream() = default;

namespace {
result<std::unique_ptr<stream::impl>> wrap(const context& ctx, tcp_stream tcp) {
  if (!ctx.get_impl()) return make_error_code(error::bad_config);
  auto i = std::make_unique<stream::impl>();
  i->tcp = std::move(tcp);
  i->ctx = ctx.get_impl();
  i->ssl = SSL_new(i->ctx->ctx);
  BIO* bio = i->ssl ? detail::make_record_bio(i->buffers) : nullptr;
  if (!bio) {
    ERR_clear_error();
    return make_error_code(std::errc::not_enough_memory);
  }
  SSL_set_bio(i->ssl, bio, bio);  // one reference, owned by the SSL from here
  // Records go out whole, one send each: Nagle would only hold the last one of a flight back.
  // Failing to set it costs latency, not correctness.
  (void)i->tcp.set_nodelay(true);
  SSL_set_ex_data(i->ssl, detail::stream_index(), i.get());
  return i;
}
}  // namespace

result<stream> stream::client(const context& ctx, tcp_stream tcp, std::string_view host) {
  auto i = wrap(ctx, std::move(tcp));
  if (!i) return i.error();
  auto& s = **i;
  s.host = std::string(host);
  SSL_set_connect_state(s.ssl);
  if (!s.host.empty()) {
    if (is_ip_address(s.host)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.ssl), s.host.c_str()) != 1) {
        ERR_clear_error();
        return make_error_code(error::bad_config);
      }
    } else if (SSL_set_tlsext_host_name(s.ssl, s.host.c_str()) != 1 ||
               SSL_set1_host(s.ssl, s.host.c_str()) != 1) {
      ERR_clear_error();
      return make_error_code(error::bad_config);
    }
    if (s.ctx->resume) {
      if (SSL_SESSION* cached = s.ctx->recall(s.host)) {
        SSL_set_session(s.ssl, cached);
        SSL_SESSION_free(cached);
      }
    }
  }
  return stream(std::move(*i));
}

result<stream> stream::server(const context& ctx, tcp_stream tcp) {
  auto i = wrap(ctx, std::move(tcp));
  if (!i) return i.error();
  SSL_set_accept_state((*i)->ssl);
  return stream(std::move(*i));
}

task<result<void>> stream::handshake() {
  if (!impl_) return as_void(fail_now(make_error_code(std::errc::bad_file_descriptor)));
  return as_void(drive(*impl_, step::handshake, {}, {}));
}

task<result<std::size_t>> stream::read(std::span<std::byte> buf) {
  if (!impl_) return fail_now(make_error_code(std::errc::bad_file_descriptor));
  return drive(*impl_, step::read, buf, {});
}

namespace {
task<result<void>> read_exact_on(stream::impl& s, std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    auto n = co_await drive(s, step::read, buf.subspan(got), {});
    if (!n) co_return n.error();
    if (*n == 0) co_return corio::error::end_of_stream;
    got += *n;
  }
  co_return result<void>();
}

task<result<void>> write_all_on(stream::impl& s, std::span<const std::byte> buf) {
  std::size_t sent = 0;
  while (sent < buf.size()) {
    const auto chunk = buf.subspan(sent, std::min<std::size_t>(buf.size() - sent, 16384));
    auto n = co_await drive(s, step::write, {}, chunk);
    if (!n) co_return n.error();
    sent += *n;  // a cancelled write's count: the next round's send then reports the cancel
  }
  co_return result<void>();
}
}  // namespace

task<result<void>> stream::read_exact(std::span<std::byte> buf) {
  if (!impl_) return as_void(fail_now(make_error_code(std::errc::bad_file_descriptor)));
  return read_exact_on(*impl_, buf);
}

task<result<std::size_t>> stream::write(std::span<const std::byte> buf) {
  if (!impl_) return fail_now(make_error_code(std::errc::bad_file_descriptor));
  return drive(*impl_, step::write, {}, buf.first(std::min<std::size_t>(buf.size(), 16384)));
}

task<result<void>> stream::write_all(std::span<const std::byte> buf) {
  if (!impl_) return as_void(fail_now(make_error_code(std::errc::bad_file_descriptor)));
  return write_all_on(*impl_, buf);
}

task<result<void>> stream::flush() {
  if (!impl_) return as_void(fail_now(make_error_code(std::errc::bad_file_descriptor)));
  return flush_out(*impl_);
}

task<result<void>> stream::shutdown() {
  if (!impl_) return as_void(fail_now(make_error_code(std::errc::bad_file_descriptor)));
  return as_void(drive(*impl_, step::shutdown, {}, {}));
}

const std::string& stream::error_detail() const noexcept {
  return impl_ ? impl_->detail : empty_string();
}

std::string_view stream::alpn_protocol() const noexcept {
  if (!impl_) return {};
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(impl_->ssl, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

std::string_view stream::protocol_version() const noexcept {
  return impl_ ? SSL_get_version(impl_->ssl) : std::string_view();
}

std::string_view stream::cipher() const noexcept {
  if (!impl_) return {};
  const char* name = SSL_get_cipher_name(impl_->ssl);
  return name ? name : std::string_view();
}

std::string_view stream::server_name() const noexcept {
  if (!impl_) return {};
  const char* name = SSL_get_servername(impl_->ssl, TLSEXT_NAMETYPE_host_name);
  return name ? name : std::string_view();
}

bool stream::session_reused() const noexcept { return impl_ && SSL_session_reused(impl_->ssl); }
bool stream::is_open() const noexcept { return impl_ && impl_->tcp.raw().native_handle() >= 0; }

tcp_stream& stream::tcp() noexcept { return impl_->tcp; }

void stream::close() noexcept {
  if (impl_) impl_->tcp.close();
}

void* stream::native_handle() const noexcept { return impl_ ? impl_->ssl : nullptr; }

task<result<stream>> accept(const context& ctx, tcp_stream tcp, std::chrono::milliseconds limit,
                            std::string* detail) {
  auto s = stream::server(ctx, std::move(tcp));
  if (!s) co_return s.error();
  auto done = co_await corio::timeout(limit, s->handshake());
  if (!done) {
    if (detail) {
      *detail = done.error() == std::errc::timed_out ? "the handshake did not finish in time"
                                                      : s->error_detail();
    }
    s->close();
    co_return done.error();
  }
  co_return std::move(*s);
}

task<result<stream>> connect(const context& ctx, const net::socket_address& to,
                             std::string name, std::chrono::milliseconds limit,
                             std::string* detail) {
  auto tcp = co_await corio::timeout(limit, tcp_stream::connect(to));
  if (!tcp) co_return tcp.error();
  auto s = stream::client(ctx, std::move(*tcp), name);
  if (!s) co_return s.error();
  auto done = co_await corio::timeout(limit, s->handshake());
  if (!done) {
    if (detail) {
      *detail = done.error() == std::errc::timed_out ? "the handshake did not finish in time"
                                                      : s->error_detail();
    }
    s->close();
    co_return done.error();
  }
  co_return std::move(*s);
}

}  // namespace corio::tls
