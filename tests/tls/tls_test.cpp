// corio::tls on every built backend: handshakes and echo (small and megabytes), ALPN, SNI,
// resumption; each failure a user must be able to act on (untrusted, expired, wrong name,
// plaintext peer, truncation, renegotiation, a handshake that never ends); cancellation that
// loses nothing; and no allocation of corio's per message once established.
#include <corio/tls.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <corio/sync/event.hpp>
#include <corio/tcp.hpp>
#include <corio/time.hpp>

#include "net/support.hpp"
#include "support/sanitizers.hpp"
#include "tls/test_pki.hpp"

// Allocations are counted in two ledgers: C++'s operator new (corio's and the test's code)
// and OpenSSL's CRYPTO_malloc (through CRYPTO_set_mem_functions, before OpenSSL's first).
namespace {
std::atomic<long> new_calls{0};
std::atomic<long> openssl_mallocs{0};

void* counted_malloc(std::size_t n, const char*, int) {
  openssl_mallocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n);
}
void* counted_realloc(void* p, std::size_t n, const char*, int) {
  openssl_mallocs.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(p, n);
}
void counted_free(void* p, const char*, int) { std::free(p); }

// A namespace-scope constructor: runs before main, so before OpenSSL allocates anything.
const bool openssl_counted =
    CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free) == 1;
}  // namespace

#if CORIO_TEST_CAN_REPLACE_NEW
[[gnu::noinline]] void* operator new(std::size_t size) {
  new_calls.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

using namespace std::chrono_literals;
using corio::result;
using corio::task;
using corio::tcp_listener;
using corio::tcp_stream;
using corio::net::socket_address;
using corio::test::bytes;
using corio::test::pki;
using corio::test::text;
namespace tls = corio::tls;

class tls_stream : public corio::test::backend_test {};

socket_address loopback() { return socket_address(corio::net::ip_address::loopback_v4(), 0); }

tls::context server_context(const corio::test::pem_pair& identity) {
  auto c = tls::context::server().value();
  c.use_certificate_chain_pem(identity.cert).value();
  c.use_private_key_pem(identity.key).value();
  return c;
}

tls::context client_context() {
  auto c = tls::context::client().value();
  c.load_ca_pem(pki().ca.cert).value();
  return c;
}

struct server_outcome {
  std::error_code ec;
  std::string detail;
};

// Accepts one connection and handshakes within `limit`; echoes until close_notify, then
// answers with its own. Reports how the handshake or the echo ended.
task<server_outcome> serve_one(tcp_listener& listener, tls::context ctx,
                               std::chrono::milliseconds limit = 5000ms) {
  auto tcp = co_await listener.accept();
  if (!tcp) co_return server_outcome{tcp.error(), "accept"};
  std::string detail;
  auto s = co_await tls::accept(ctx, std::move(tcp->first), limit, &detail);
  if (!s) co_return server_outcome{s.error(), detail};
  std::vector<std::byte> buf(20000);
  for (int rounds = 0; rounds < 100000; ++rounds) {
    auto n = co_await s->read(buf);
    if (!n) co_return server_outcome{n.error(), s->error_detail()};
    if (*n == 0) break;
    if (auto w = co_await s->write_all(std::span(buf).first(*n)); !w) {
      co_return server_outcome{w.error(), s->error_detail()};
    }
  }
  if (auto r = co_await s->shutdown(); !r) co_return server_outcome{r.error(), "shutdown"};
  co_return server_outcome{};
}

task<> echo_round_trip(tls::context server_ctx, std::size_t size) {
  auto listener = tcp_listener::bind(loopback());
  CO_ASSERT_OK(listener);
  CO_ASSERT_TRUE(server_ctx.set_alpn({"h2", "http/1.1"}));
  auto server = corio::spawn(serve_one(*listener, server_ctx));
  auto ctx = client_context();
  CO_ASSERT_TRUE(ctx.set_alpn({"http/1.1"}));
  std::string detail;
  auto c = co_await tls::connect(ctx, *listener->local_address(), "localhost", 5000ms, &detail);
  if (!c) ADD_FAILURE() << c.error().message() << ": " << detail;
  CO_ASSERT_OK(c);
  EXPECT_EQ(c->protocol_version(), "TLSv1.3");
  EXPECT_EQ(c->alpn_protocol(), "http/1.1");

  std::vector<std::byte> out(size), in(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::byte>(i * 7 + i / 251);
  // Written by another task while this one reads: megabytes do not fit in socket buffers.
  auto writer = corio::spawn([](tls::stream& s, std::vector<std::byte>& o) -> task<result<void>> {
    co_return co_await s.write_all(o);
  }(*c, out));
  auto got = co_await c->read_exact(in);
  CO_ASSERT_OK(got);
  auto wrote = co_await writer;
  CO_ASSERT_OK(wrote);
  EXPECT_TRUE(in == out);

  CO_ASSERT_OK(co_await c->shutdown());
  std::array<std::byte, 16> tail;
  auto end = co_await c->read(tail);  // the server's close_notify
  CO_ASSERT_OK(end);
  EXPECT_EQ(*end, 0u);
  auto outcome = co_await server;
  EXPECT_FALSE(outcome.ec) << outcome.ec.message() << ": " << outcome.detail;
}

TEST_P(tls_stream, echo_small) { run(echo_round_trip(server_context(pki().server), 13)); }

TEST_P(tls_stream, echo_megabytes_full_duplex) {
  run(echo_round_trip(server_context(pki().server), 3 * 1024 * 1024 + 17));
}

// A client that fails the handshake for `host` against `identity`; both sides' errors.
task<> expect_client_failure(corio::test::pem_pair identity, tls::context ctx, std::string host,
                             tls::error want, std::string want_words) {
  auto listener = tcp_listener::bind(loopback());
  CO_ASSERT_OK(listener);
  auto server = corio::spawn(serve_one(*listener, server_context(identity)));
  std::string detail;
  auto c = co_await tls::connect(ctx, *listener->local_address(), host, 5000ms, &detail);
  CO_ASSERT_TRUE(!c);
  EXPECT_EQ(c.error(), want) << c.error().message();
  EXPECT_NE(detail.find(want_words), std::string::npos) << detail;
  EXPECT_NE(detail.find("CN=localhost"), std::string::npos) << detail;  // which certificate
  auto outcome = co_await server;
  // The client told the server why with an alert.
  EXPECT_EQ(outcome.ec, tls::error::peer_alert) << outcome.ec.message() << ": " << outcome.detail;
}

TEST_P(tls_stream, untrusted_ca_says_which_certificate) {
  auto ctx = tls::context::client().value();  // the system's CAs only
  run(expect_client_failure(pki().stranger, ctx, "localhost", tls::error::verify_failed,
                            "unable to get local issuer certificate"));
}

TEST_P(tls_stream, expired_certificate) {
  run(expect_client_failure(pki().expired, client_context(), "localhost",
                            tls::error::verify_failed, "certificate has expired"));
}

TEST_P(tls_stream, wrong_host_name) {
  run(expect_client_failure(pki().server, client_context(), "corio.example",
                            tls::error::verify_failed, "expected corio.example"));
}

TEST_P(tls_stream, ip_address_host) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto server = corio::spawn(serve_one(*listener, server_context(pki().server)));
    auto c = co_await tls::connect(client_context(), *listener->local_address(), "127.0.0.1");
    CO_ASSERT_OK(c);
    CO_ASSERT_OK(co_await c->shutdown());
    auto outcome = co_await server;
    EXPECT_FALSE(outcome.ec) << outcome.detail;
  }());
}

TEST_P(tls_stream, plaintext_client_on_tls_port) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto server = corio::spawn(serve_one(*listener, server_context(pki().server)));
    auto c = co_await tcp_stream::connect(*listener->local_address());
    CO_ASSERT_OK(c);
    CO_ASSERT_OK(co_await c->write_all(bytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")));
    auto outcome = co_await server;
    EXPECT_EQ(outcome.ec, tls::error::not_tls) << outcome.ec.message();
    EXPECT_NE(outcome.detail.find("plaintext"), std::string::npos) << outcome.detail;
  }());
}

TEST_P(tls_stream, handshake_that_never_finishes_times_out) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto server = corio::spawn(serve_one(*listener, server_context(pki().server), 100ms));
    auto c = co_await tcp_stream::connect(*listener->local_address());  // and says nothing
    CO_ASSERT_OK(c);
    auto outcome = co_await corio::timeout(5s, std::move(server));
    CO_ASSERT_OK(outcome);
    EXPECT_EQ(outcome->ec, std::errc::timed_out);
    std::array<std::byte, 8> buf;
    auto n = co_await corio::timeout(5s, c->read(buf));  // the server closed the connection
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, 0u);
  }());
}

// The server ends TCP without close_notify: after the handshake, and in the middle of a record.
task<> truncated(bool mid_record) {
  auto listener = tcp_listener::bind(loopback());
  CO_ASSERT_OK(listener);
  auto server = corio::spawn([](tcp_listener& l, bool mid) -> task<result<void>> {
    auto tcp = co_await l.accept();
    if (!tcp) co_return tcp.error();
    auto s = co_await tls::accept(server_context(pki().server), std::move(tcp->first));
    if (!s) co_return s.error();
    if (mid) {
      // An application-data record header announcing 64 bytes, and only 10 of them.
      const std::array<unsigned char, 15> partial{0x17, 0x03, 0x03, 0x00, 0x40};
      auto w = co_await s->tcp().write_all(std::as_bytes(std::span(partial)));
      if (!w) co_return w;
    }
    s->close();
    co_return result<void>();
  }(*listener, mid_record));
  auto c = co_await tls::connect(client_context(), *listener->local_address(), "localhost");
  CO_ASSERT_OK(c);
  CO_ASSERT_OK(co_await server);
  std::array<std::byte, 64> buf;
  auto n = co_await corio::timeout(5s, c->read(buf));
  CO_ASSERT_TRUE(!n);
  EXPECT_EQ(n.error(), tls::error::truncated) << n.error().message();
  EXPECT_NE(c->error_detail().find("close_notify"), std::string::npos) << c->error_detail();
}

TEST_P(tls_stream, peer_closes_without_close_notify) { run(truncated(false)); }
TEST_P(tls_stream, peer_closes_mid_record) { run(truncated(true)); }

TEST_P(tls_stream, renegotiation_is_refused) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto server = corio::spawn(serve_one(*listener, server_context(pki().server)));
    // A TLS 1.2 client that asks to renegotiate (corio's own never does: this one is told to
    // through OpenSSL directly).
    auto ctx = client_context();
    auto* native = static_cast<SSL_CTX*>(ctx.native_handle());
    SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_clear_options(native, SSL_OP_NO_RENEGOTIATION);
    auto c = co_await tls::connect(ctx, *listener->local_address(), "localhost");
    CO_ASSERT_OK(c);
    EXPECT_EQ(c->protocol_version(), "TLSv1.2");
    CO_ASSERT_TRUE(SSL_renegotiate(static_cast<SSL*>(c->native_handle())) == 1);
    std::array<std::byte, 16> buf;
    auto n = co_await corio::timeout(5s, c->read(buf));  // sends the new ClientHello
    CO_ASSERT_TRUE(!n);
    EXPECT_EQ(n.error(), tls::error::renegotiation_refused) << n.error().message();
    auto outcome = co_await server;
    EXPECT_EQ(outcome.ec, tls::error::renegotiation_refused)
        << outcome.ec.message() << ": " << outcome.detail;
  }());
}

TEST_P(tls_stream, session_resumption_and_sni) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto sctx = server_context(pki().server);
    auto ctx = client_context();
    for (int round = 0; round < 2; ++round) {
      auto server = corio::spawn(serve_one(*listener, sctx));
      auto c = co_await tls::connect(ctx, *listener->local_address(), "localhost");
      CO_ASSERT_OK(c);
      EXPECT_EQ(c->session_reused(), round == 1) << "round " << round;
      // TLS 1.3 hands out the session ticket after the handshake: a read takes it in.
      CO_ASSERT_OK(co_await c->write_all(bytes("ping")));
      std::array<std::byte, 4> buf;
      CO_ASSERT_OK(co_await c->read_exact(buf));
      CO_ASSERT_OK(co_await c->shutdown());
      auto outcome = co_await server;
      EXPECT_FALSE(outcome.ec) << outcome.detail;
    }
  }());
}

// The common name of the certificate the server presented.
std::string peer_common_name(const tls::stream& s) {
  X509* cert = SSL_get0_peer_certificate(static_cast<SSL*>(s.native_handle()));
  if (!cert) return "(none)";
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) < 0) {
    return "(no CN)";
  }
  return cn;
}

// SNI: two certificates on one server context; each client gets the one for the name it asks
// for (exact, any case, or through a one-label wildcard), the default otherwise; the client's
// verification of that name is the proof it got the right one.
TEST_P(tls_stream, server_name_selects_the_certificate) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto sctx = server_context(pki().server);
    auto exact = sctx.add_server_name_pem("other.example", pki().other.cert, pki().other.key);
    CO_ASSERT_OK(exact);
    auto wildcard = sctx.add_server_name_pem("*.WILD.example", pki().other.cert, pki().other.key);
    CO_ASSERT_OK(wildcard);
    struct want_t {
      const char* host;
      const char* common_name;  // null: verification fails (the default certificate came)
    };
    auto cctx = client_context();
    cctx.set_session_resumption(false);  // each round a full handshake, so a certificate
    for (const want_t want : {want_t{"other.example", "other.example"},
                              want_t{"Other.Example", "other.example"},
                              want_t{"a.wild.example", "other.example"},
                              want_t{"localhost", "localhost"},
                              want_t{"b.a.wild.example", nullptr},  // one label only
                              want_t{"wild.example", nullptr}}) {
      auto server = corio::spawn(serve_one(*listener, sctx));
      std::string detail;
      auto c = co_await tls::connect(cctx, *listener->local_address(), want.host, 5000ms, &detail);
      if (!want.common_name) {
        if (c) {
          ADD_FAILURE() << want.host << ": the handshake succeeded";
          co_return;
        }
        EXPECT_EQ(c.error(), tls::error::verify_failed) << want.host;
        EXPECT_NE(detail.find("CN=localhost"), std::string::npos) << want.host << ": " << detail;
        (void)co_await server;  // told by the client's alert
        continue;
      }
      if (!c) ADD_FAILURE() << want.host << ": " << detail;
      CO_ASSERT_OK(c);
      EXPECT_EQ(peer_common_name(*c), want.common_name) << want.host;
      CO_ASSERT_OK(co_await c->write_all(bytes("ping")));
      std::array<std::byte, 4> buf;
      CO_ASSERT_OK(co_await c->read_exact(buf));
      CO_ASSERT_OK(co_await c->shutdown());
      auto outcome = co_await server;
      EXPECT_FALSE(outcome.ec) << want.host << ": " << outcome.detail;
    }
  }());
}

// openssl s_client -servername NAME, verifying NAME against the test CA: it gets the
// certificate added for NAME, or the default one for a name never added.
TEST_P(tls_stream, openssl_s_client_server_name) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl binary";
  char dir[] = "/tmp/corio-sni-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string ca = std::string(dir) + "/ca.pem";
  std::ofstream(ca) << pki().ca.cert;
  auto sctx = server_context(pki().server);
  ASSERT_TRUE(sctx.add_server_name_pem("other.example", pki().other.cert, pki().other.key));
  corio::runtime_options o;
  o.backend = GetParam();
  o.threads = 1;
  corio::runtime rt(o);
  for (const std::string name : {"other.example", "localhost"}) {
    auto raw = corio::net::tcp_listener::bind(loopback());
    ASSERT_TRUE(raw);
    const auto port = raw->local_address().value().port();
    auto served = rt.spawn([](corio::net::tcp_listener r, tls::context c) -> task<server_outcome> {
      auto listener = tcp_listener::from_raw(std::move(r));
      if (!listener) co_return server_outcome{listener.error(), "register"};
      co_return co_await serve_one(*listener, c);
    }(std::move(*raw), sctx));
    // Bounded by timeout(1); stdin at its end makes s_client close after the handshake.
    const std::string command = "timeout 10 openssl s_client -connect 127.0.0.1:" +
                                std::to_string(port) + " -servername " + name +
                                " -verify_hostname " + name + " -CAfile " + ca +
                                " -verify_return_error </dev/null 2>&1";
    std::string out;
    int status = -1;
    if (FILE* p = popen(command.c_str(), "r")) {
      std::array<char, 4096> chunk;
      for (std::size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), p)) > 0;) {
        out.append(chunk.data(), n);
      }
      status = pclose(p);
    }
    served.request_stop();  // s_client has gone, whether or not it connected
    (void)served.join();    // how s_client closed (close_notify or not) is not the point here
    EXPECT_EQ(status, 0) << name << ": " << out;
    EXPECT_NE(out.find("subject=CN = " + name), std::string::npos) << name << ": " << out;
    EXPECT_NE(out.find("Verify return code: 0 (ok)"), std::string::npos) << name << ": " << out;
  }
  std::remove(ca.c_str());
  ::rmdir(dir);
}

TEST(tls_context, server_name_errors) {
  auto s = tls::context::server().value();
  const auto& other = pki().other;
  EXPECT_EQ(s.add_server_name_pem("", other.cert, other.key).error(), tls::error::bad_config);
  EXPECT_EQ(s.add_server_name_pem("a..example", other.cert, other.key).error(),
            tls::error::bad_config);
  EXPECT_EQ(s.add_server_name_pem("a.*.example", other.cert, other.key).error(),
            tls::error::bad_config);
  EXPECT_EQ(s.add_server_name_pem("other.example", other.cert, pki().server.key).error(),
            tls::error::bad_certificate_or_key);  // a key that is not the certificate's
  EXPECT_EQ(s.add_server_name_pem("other.example", "no PEM", other.key).error(),
            tls::error::bad_certificate_or_key);
  EXPECT_EQ(s.add_server_name("other.example", "/nonexistent/c.pem", "/nonexistent/k.pem").error(),
            tls::error::bad_certificate_or_key);
  auto c = tls::context::client().value();
  EXPECT_EQ(c.add_server_name_pem("other.example", other.cert, other.key).error(),
            tls::error::bad_config);
  EXPECT_TRUE(s.add_server_name_pem("other.example", other.cert, other.key));
}

TEST_P(tls_stream, alpn_mismatch_is_refused) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto sctx = server_context(pki().server);
    CO_ASSERT_TRUE(sctx.set_alpn({"h2"}));
    auto server = corio::spawn(serve_one(*listener, sctx));
    auto ctx = client_context();
    CO_ASSERT_TRUE(ctx.set_alpn({"imap"}));
    std::string detail;
    auto c = co_await tls::connect(ctx, *listener->local_address(), "localhost", 5000ms, &detail);
    CO_ASSERT_TRUE(!c);
    EXPECT_EQ(c.error(), tls::error::peer_alert) << c.error().message();
    EXPECT_NE(detail.find("no application protocol"), std::string::npos) << detail;
    EXPECT_NE(detail.find("from the peer"), std::string::npos) << detail;
    (void)co_await server;  // its own failure is what the client was told
  }());
}

// A read cancelled while nothing has arrived, then one cancelled while half a record has: the
// next read gets every byte.
TEST_P(tls_stream, cancelled_reads_lose_nothing) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto server = corio::spawn(serve_one(*listener, server_context(pki().server)));
    auto c = co_await tls::connect(client_context(), *listener->local_address(), "localhost");
    CO_ASSERT_OK(c);
    std::array<std::byte, 64> buf;
    auto early = co_await corio::timeout(30ms, c->read(buf));
    CO_ASSERT_TRUE(!early);
    EXPECT_EQ(early.error(), std::errc::timed_out);
    CO_ASSERT_OK(co_await c->write_all(bytes("after a cancelled read")));
    std::array<std::byte, 22> got;
    CO_ASSERT_OK(co_await corio::timeout(5s, c->read_exact(got)));
    EXPECT_EQ(text(got), "after a cancelled read");
    CO_ASSERT_OK(co_await c->shutdown());
    auto outcome = co_await server;
    EXPECT_FALSE(outcome.ec) << outcome.detail;
  }());
}

// Writes cancelled while the peer is not reading: each reports either nothing taken or the
// bytes it encrypted, and the peer receives exactly the bytes reported, no more, no less.
TEST_P(tls_stream, cancelled_writes_lose_and_repeat_nothing) {
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    corio::manual_reset_event start_reading;
    auto counter = corio::spawn([](tcp_listener& l,
                                   corio::manual_reset_event& go) -> task<result<std::size_t>> {
      auto tcp = co_await l.accept();
      if (!tcp) co_return tcp.error();
      auto s = co_await tls::accept(server_context(pki().server), std::move(tcp->first));
      if (!s) co_return s.error();
      if (auto waited = co_await go.wait(); !waited) co_return waited.error();
      std::size_t total = 0;
      std::vector<std::byte> buf(16384);
      for (int rounds = 0; rounds < 1000000; ++rounds) {
        auto n = co_await s->read(buf);
        if (!n) co_return n.error();
        if (*n == 0) co_return total;
        for (std::size_t i = 0; i < *n; ++i) {
          if (buf[i] != static_cast<std::byte>((total + i) % 251)) co_return corio::error::end_of_stream;
        }
        total += *n;
      }
      co_return std::make_error_code(std::errc::timed_out);
    }(*listener, start_reading));
    auto c = co_await tls::connect(client_context(), *listener->local_address(), "localhost");
    CO_ASSERT_OK(c);
    std::vector<std::byte> pattern(16384 + 251);
    for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>(i % 251);
    std::size_t accepted = 0;
    int cancelled = 0;
    for (int i = 0; i < 10000 && cancelled < 3; ++i) {
      const auto chunk = std::span(pattern).subspan(accepted % 251, 16384);
      auto n = co_await corio::timeout(20ms, c->write(chunk));
      if (n) {
        accepted += *n;
      } else {
        EXPECT_EQ(n.error(), std::errc::timed_out);
        ++cancelled;
      }
    }
    EXPECT_EQ(cancelled, 3) << "the socket never filled";
    start_reading.set();
    CO_ASSERT_OK(co_await corio::timeout(10s, c->flush()));
    CO_ASSERT_OK(co_await corio::timeout(10s, c->shutdown()));
    auto received = co_await counter;
    CO_ASSERT_OK(received);
    EXPECT_EQ(*received, accepted);
  }());
}

TEST_P(tls_stream, no_allocation_per_message_once_established) {
#if !CORIO_TEST_CAN_REPLACE_NEW
  GTEST_SKIP() << "TSan owns operator new";
#endif
  ASSERT_TRUE(openssl_counted);
  run([]() -> task<> {
    auto listener = tcp_listener::bind(loopback());
    CO_ASSERT_OK(listener);
    auto server = corio::spawn(serve_one(*listener, server_context(pki().server)));
    auto c = co_await tls::connect(client_context(), *listener->local_address(), "localhost");
    CO_ASSERT_OK(c);
    std::array<std::byte, 512> msg{}, back{};
    auto exchange = [&](int n) -> task<result<void>> {
      for (int i = 0; i < n; ++i) {
        if (auto w = co_await c->write_all(msg); !w) co_return w;
        if (auto r = co_await c->read_exact(back); !r) co_return r;
      }
      co_return result<void>();
    };
    CO_ASSERT_OK(co_await exchange(200));  // warm: tickets taken in, frames pooled, buffers made
    const long new_before = new_calls.load();
    const long ssl_before = openssl_mallocs.load();
    constexpr int messages = 2000;
    CO_ASSERT_OK(co_await exchange(messages));
    const long corio_allocs = new_calls.load() - new_before;
    const long ssl_allocs = openssl_mallocs.load() - ssl_before;
    EXPECT_EQ(corio_allocs, 0) << "operator new calls over " << messages << " echoes";
    std::cout << "[ allocs   ] " << messages << " echoed 512-byte messages (both ends): "
              << corio_allocs << " operator new, " << ssl_allocs << " OpenSSL mallocs\n";
    CO_ASSERT_OK(co_await c->shutdown());
    auto outcome = co_await server;
    EXPECT_FALSE(outcome.ec) << outcome.detail;
  }());
}

TEST(tls_ktls, status_is_reported) {
  const auto r = tls::ktls_status();
  std::cout << "[ ktls     ] kernel " << r.kernel << ", OpenSSL " << r.openssl << ": " << r.detail
            << "\n";
  EXPECT_FALSE(r.detail.empty());
}

TEST(tls_context, bad_pem_is_an_error) {
  auto c = tls::context::server().value();
  EXPECT_EQ(c.use_certificate_chain_pem("not a certificate").error(),
            tls::error::bad_certificate_or_key);
  EXPECT_EQ(c.use_private_key_pem("").error(), tls::error::bad_certificate_or_key);
  auto missing = tls::context::server("/nonexistent/cert.pem", "/nonexistent/key.pem");
  EXPECT_EQ(missing.error(), tls::error::bad_certificate_or_key);
  // A key that is not the certificate's.
  c.use_certificate_chain_pem(pki().server.cert).value();
  EXPECT_EQ(c.use_private_key_pem(pki().ca.key).error(), tls::error::bad_certificate_or_key);
}

CORIO_INSTANTIATE_BACKENDS(tls_stream);

}  // namespace
