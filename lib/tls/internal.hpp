// What context and stream hold, shared by lib/tls's files (never seen by users: tls.hpp
// names only the structs).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <corio/tls.hpp>

#include "tls/record_bio.hpp"

namespace corio::tls {

// A certificate chain and key served to clients asking for `name` (add_server_name).
struct server_identity {
  std::string name;  // lower case; "*.example.org" for a wildcard
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = nullptr;
  EVP_PKEY* key = nullptr;
};

struct context::impl {
  SSL_CTX* ctx = nullptr;
  role side = role::client;
  std::vector<unsigned char> alpn;  // wire format: length-prefixed names
  bool resume = true;
  // Client sessions by host, for resumption; shared by every thread using the context.
  std::mutex sessions_mutex;
  std::map<std::string, SSL_SESSION*, std::less<>> sessions;
  // Servers: SNI's certificates, searched in the ClientHello (server_names.cpp).
  std::vector<server_identity> identities;

  ~impl();
  void remember(const std::string& host, SSL_SESSION* s);  // takes the reference
  SSL_SESSION* recall(std::string_view host);               // a new reference, or null
};

struct stream::impl {
  tcp_stream tcp;
  std::shared_ptr<context::impl> ctx;
  SSL* ssl = nullptr;
  detail::record_buffers buffers;
  std::string host;           // client: the session cache key
  std::string detail;         // why the last operation failed, in words
  std::string verify_detail;  // the verify callback's account of the first bad certificate
  bool flushing = false;      // a task is sending `buffers.out`
  bool close_notify_sent = false;
  bool renegotiation_seen = false;

  ~impl();
};

namespace detail {
// The index of the stream::impl* in each SSL's ex_data.
int stream_index();
// An error code (and stream.detail) for a failed OpenSSL call; drains the thread's queue.
std::error_code classify(stream::impl& s, int ssl_error, bool handshaking);
// OpenSSL's thread error queue as one line, drained.
std::string drain_errors();
}  // namespace detail

}  // namespace corio::tls
