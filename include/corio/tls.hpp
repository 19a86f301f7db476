// TLS for coroutines: OpenSSL 3 under a stream with tcp_stream's awaitable surface. Built
// when OpenSSL 3 (libssl-dev) is found (-Dtls=auto; -Dtls=enabled insists); in a build
// without it these declarations have no definitions, so code using them fails to link.
//
//   auto ctx = corio::tls::context::client().value();          // system CAs, verification on
//   auto tcp = (co_await corio::tcp_stream::connect(addr)).value();
//   auto s = corio::tls::stream::client(ctx, std::move(tcp), "example.org").value();
//   if (auto ok = co_await s.handshake(); !ok) fmt::print("{}\n", s.error_detail());
//   co_await s.write_all(bytes);  auto n = co_await s.read(buf);  co_await s.shutdown();
//
// Design. OpenSSL never touches the socket: it reads ciphertext from, and writes ciphertext
// to, two fixed buffers of the stream (a custom BIO), and the stream moves those buffers
// through tcp_stream's own awaitables. So the same code runs on epoll (readiness) and io_uring
// (whole receive/send requests, read-ahead included) and TLS keeps io_uring's syscall savings.
// Kernel TLS needs OpenSSL to own the socket; see ktls_status() for why it is off here.
//
// Sharp edges:
// - One read and one write may be pending at once (like tcp_stream); a second read (or
//   write) while one is pending is a bug. handshake() and shutdown() are writes and reads.
// - Do not move or destroy a stream while one of its operations is pending.
// - Cancellation loses nothing. A cancelled read leaves received ciphertext, including a
//   partial record, in the stream's input buffer; the next read continues with it. A cancelled
//   write has either not encrypted anything (the result says operation_canceled and no byte of
//   the buffer was taken) or has encrypted its bytes and returns their count even though part
//   of their ciphertext is still in the output buffer: the next write, flush() or shutdown()
//   sends it first. A cancelled write_all may have taken part of the buffer (as tcp_stream's).
//   A cancelled handshake can be awaited again; it resumes where it stopped.
// - End of stream: read() returns 0 only after the peer's close_notify. A peer that closes
//   the TCP connection without it gets error::truncated (a cut-off response is not a whole
//   one); plain TCP's EOF semantics are not TLS's.
// - Memory: one heap allocation of corio's per stream (18 KiB + 34 KiB of ciphertext
//   buffers), plus OpenSSL's SSL object; nothing of corio's per message. OpenSSL itself
//   allocates while handshaking, keeps its own record buffers, and (3.0) mallocs about twice
//   per record.
// - The stream sets TCP_NODELAY: it sends whole records, and Nagle would only delay the last
//   one of a flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <corio/error.hpp>
#include <corio/net/address.hpp>
#include <corio/task.hpp>
#include <corio/tcp.hpp>

namespace corio::tls {

// True: the declarations below are defined in this build.
bool available() noexcept;

enum class error {
  handshake_failed = 1,    // the handshake failed for a reason other than those below
  verify_failed,           // the peer's certificate was not accepted (see error_detail())
  not_tls,                 // the peer does not speak TLS (e.g. a plaintext HTTP client)
  truncated,               // the peer closed TCP without close_notify, or mid-record
  peer_alert,              // the peer ended the connection with a fatal alert
  renegotiation_refused,   // the peer tried to renegotiate (TLS 1.2); corio refuses it
  protocol_error,          // a malformed or unexpected record after the handshake
  bad_certificate_or_key,  // a certificate, key or CA could not be loaded or do not match
  bad_config,              // an option OpenSSL refused (ALPN list, cipher string, ...)
};

const std::error_category& tls_category() noexcept;
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

enum class role { client, server };

// Certificates, keys, trust and protocol options, shared by many streams (and threads: it is
// a reference-counted handle; configure it before the first stream uses it).
class context {
 public:
  // Verification on: the peer's chain must lead to a trusted CA (the system's store unless
  // load_ca_* is called) and, with stream::client's host, name that host. TLS 1.2 and 1.3.
  static result<context> client();
  // A server with its certificate chain and key, PEM files.
  static result<context> server(const std::string& cert_chain_file, const std::string& key_file);
  // An empty server context: add the certificate with use_*_pem (tests, secrets in memory).
  static result<context> server();

  result<void> use_certificate_chain_file(const std::string& path);
  result<void> use_private_key_file(const std::string& path);
  result<void> use_certificate_chain_pem(std::string_view pem);
  result<void> use_private_key_pem(std::string_view pem);
  // Servers, SNI: a client that asks for `name` gets this certificate chain (leaf first) and
  // key instead of the context's own. `name` is a DNS name, matched regardless of case, or a
  // wildcard "*.example.org" standing for exactly one label; an exact name wins over a
  // wildcard, a later add of the same name replaces the earlier. A client that sends no name,
  // or one never added, gets the context's own certificate (none: handshake_failed). Errors:
  // bad_config (a client context, an empty or malformed name), bad_certificate_or_key.
  result<void> add_server_name(std::string_view name, const std::string& cert_chain_file,
                               const std::string& key_file);
  result<void> add_server_name_pem(std::string_view name, std::string_view cert_chain_pem,
                                   std::string_view key_pem);
  // Trust these CAs (instead of the system's store for a client).
  result<void> load_ca_file(const std::string& path);
  result<void> load_ca_pem(std::string_view pem);
  // Servers: ask clients for a certificate and verify it (mutual TLS). Clients: false turns
  // verification off (never in production: anyone can then impersonate the server).
  void set_verify_peer(bool on);
  // Client: the protocols offered, in order of preference. Server: those it accepts, in its
  // order of preference; a client offering none of them is refused (no_application_protocol).
  result<void> set_alpn(const std::vector<std::string>& protocols);
  // Client session resumption (on by default): sessions the server hands out are kept per
  // host and offered on the next connection to that host. Servers resume through tickets.
  void set_session_resumption(bool on);

  // The OpenSSL SSL_CTX*, for options corio does not wrap (cipher lists, curves, ...).
  void* native_handle() const noexcept;

  struct impl;  // lib/tls's
  explicit context(std::shared_ptr<impl> i) noexcept : impl_(std::move(i)) {}
  const std::shared_ptr<impl>& get_impl() const noexcept { return impl_; }

 private:
  std::shared_ptr<impl> impl_;
};

class stream {
 public:
  stream() noexcept;
  stream(stream&&) noexcept;
  stream& operator=(stream&&) noexcept;
  ~stream();

  // Wraps a connected stream; nothing is sent until handshake(). `host` is sent as SNI (unless
  // it is an IP address) and the server's certificate must name it (DNS name or IP address);
  // empty skips the name check (chain still verified).
  static result<stream> client(const context& ctx, tcp_stream tcp, std::string_view host);
  static result<stream> server(const context& ctx, tcp_stream tcp);

  // co_await → result<void>. Bound it with corio::timeout: a peer that never finishes must not
  // hold a task forever.
  task<result<void>> handshake();
  // co_await → result<std::size_t>; 0 means the peer sent close_notify.
  task<result<std::size_t>> read(std::span<std::byte> buf);
  // co_await → result<void>; end of stream first is corio::error::end_of_stream.
  task<result<void>> read_exact(std::span<std::byte> buf);
  // co_await → result<std::size_t>: up to one record (16 KiB) encrypted and sent.
  task<result<std::size_t>> write(std::span<const std::byte> buf);
  task<result<void>> write_all(std::span<const std::byte> buf);
  // Sends what a cancelled write left in the output buffer.
  task<result<void>> flush();
  // Sends close_notify (once) and flushes; does not wait for the peer's. Then close() or
  // tcp().shutdown_write().
  task<result<void>> shutdown();

  // After a failure: which certificate and why, or OpenSSL's reason, in words.
  const std::string& error_detail() const noexcept;
  // After the handshake.
  std::string_view alpn_protocol() const noexcept;
  std::string_view protocol_version() const noexcept;  // "TLSv1.3"
  std::string_view cipher() const noexcept;
  std::string_view server_name() const noexcept;  // server: the SNI the client sent
  bool session_reused() const noexcept;
  bool is_open() const noexcept;

  tcp_stream& tcp() noexcept;
  void close() noexcept;

  // The OpenSSL SSL*, for what corio does not wrap.
  void* native_handle() const noexcept;

  struct impl;

 private:
  explicit stream(std::unique_ptr<impl> i) noexcept;
  std::unique_ptr<impl> impl_;
};

// For servers: wraps an accepted connection and completes the handshake within `limit`
// (error: timed_out); on failure the connection is closed and the reason is in `detail`, if
// given. The one call http_server or echo_server needs per accepted connection.
task<result<stream>> accept(const context& ctx, tcp_stream tcp,
                            std::chrono::milliseconds limit = std::chrono::seconds(10),
                            std::string* detail = nullptr);
// For clients: connects, wraps, handshakes within `limit`.
task<result<stream>> connect(const context& ctx, const net::socket_address& to,
                             std::string host,
                             std::chrono::milliseconds limit = std::chrono::seconds(10),
                             std::string* detail = nullptr);

// Kernel TLS: whether this kernel offers the "tls" TCP upper-layer protocol and this OpenSSL
// was built with kTLS, in words. corio's streams keep the record layer in user space either
// way (see the README's "TLS" section).
struct ktls_report {
  bool kernel = false;   // TCP_ULP "tls" accepted on a loopback socket
  bool openssl = false;  // OpenSSL built with kTLS support
  std::string detail;
};
ktls_report ktls_status();

}  // namespace corio::tls

template <>
struct std::is_error_code_enum<corio::tls::error> : std::true_type {};
