// corio::tls::error's words, and OpenSSL's failures turned into them: the error code says
// what kind of failure (what a program branches on), stream::error_detail() says which
// certificate or record and why (what a person reads).
#include <array>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/internal.hpp"

namespace corio::tls {

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "corio.tls"; }
  std::string message(int value) const override {
    switch (static_cast<error>(value)) {
      case error::handshake_failed: return "TLS handshake failed";
      case error::verify_failed: return "TLS peer certificate verification failed";
      case error::not_tls: return "peer does not speak TLS";
      case error::truncated: return "TLS stream truncated (peer closed without close_notify)";
      case error::peer_alert: return "TLS peer sent a fatal alert";
      case error::renegotiation_refused: return "TLS renegotiation refused";
      case error::protocol_error: return "TLS protocol error";
      case error::bad_certificate_or_key: return "TLS certificate, key or CA not usable";
      case error::bad_config: return "TLS option refused";
    }
    return "unknown TLS error";
  }
};

// Reasons OpenSSL gives when the first bytes are not a TLS record: a plaintext client, or a
// server speaking another protocol.
bool looks_like_plaintext(int reason) {
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNKNOWN_PROTOCOL:
      return true;
    default:
      return false;
  }
}

}  // namespace

const std::error_category& tls_category() noexcept {
  static const category c;
  return c;
}

namespace detail {

std::string drain_errors() {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    std::array<char, 256> line{};
    ERR_error_string_n(e, line.data(), line.size());
    if (!text.empty()) text += "; ";
    text += line.data();
  }
  return text;
}

std::error_code classify(stream::impl& s, int ssl_error, bool handshaking) {
  const unsigned long first = ERR_peek_error();
  const int reason = ERR_GET_LIB(first) == ERR_LIB_SSL ? ERR_GET_REASON(first) : 0;
  std::string text = drain_errors();
  if (s.renegotiation_seen) {
    s.detail = "the peer tried to renegotiate (TLS 1.2); corio refuses renegotiation";
    return error::renegotiation_refused;
  }
  if ((ssl_error == SSL_ERROR_SYSCALL && first == 0) ||
      reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    s.detail = handshaking ? "the peer closed the connection during the handshake"
                           : "the peer closed the connection without close_notify";
    return error::truncated;
  }
  if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    s.detail = !s.verify_detail.empty()
                   ? s.verify_detail
                   : std::string("certificate verify failed: ") +
                         X509_verify_cert_error_string(SSL_get_verify_result(s.ssl));
    return error::verify_failed;
  }
  if (reason == SSL_R_NO_RENEGOTIATION) {
    s.detail = "renegotiation refused: " + text;
    return error::renegotiation_refused;
  }
  if (handshaking && looks_like_plaintext(reason)) {
    s.detail = "the first bytes are not a TLS record (a plaintext client on a TLS port?); " +
               text;
    return error::not_tls;
  }
  if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
    const int alert = reason - SSL_AD_REASON_OFFSET;
    s.detail = std::string("alert \"") + SSL_alert_desc_string_long(alert) + "\" from the peer";
    if (alert == SSL_AD_UNKNOWN_CA || alert == SSL_AD_BAD_CERTIFICATE ||
        alert == SSL_AD_CERTIFICATE_EXPIRED || alert == SSL_AD_CERTIFICATE_UNKNOWN) {
      s.detail += " (it does not accept our certificate)";
    }
    return error::peer_alert;
  }
  s.detail = text.empty() ? "OpenSSL reported no reason" : text;
  return handshaking ? error::handshake_failed : error::protocol_error;
}

}  // namespace detail

}  // namespace corio::tls
