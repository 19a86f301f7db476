// SNI for servers: certificates chosen by the name the client asks for. OpenSSL calls the
// servername callback while it reads the ClientHello, before it picks a certificate; the
// callback puts the name's chain and key on that connection's SSL (not a second SSL_CTX, whose
// ALPN, verification and ticket settings would then have to be kept in step with the first).
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/internal.hpp"

namespace corio::tls {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Letters, digits, '-' and '.', no empty label, at most 253 bytes; "*." only as the first label.
bool valid_name(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  char previous = '.';
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    if (!ok || (c == '.' && previous == '.')) return false;
    previous = c;
  }
  return true;
}

// The identity for `host`: its exact name, else the wildcard for its parent domain.
const server_identity* find(const context::impl& c, std::string_view host) {
  if (host.empty() || host.size() > 253 || host.find('*') != std::string_view::npos) return nullptr;
  const std::string name = lower(host);
  const server_identity* wildcard = nullptr;
  const auto dot = name.find('.');
  for (const auto& id : c.identities) {
    if (id.name == name) return &id;
    if (dot != std::string::npos && dot > 0 && id.name.starts_with("*.") &&
        std::string_view(id.name).substr(1) == std::string_view(name).substr(dot)) {
      wildcard = &id;
    }
  }
  return wildcard;
}

int on_server_name(SSL* ssl, int* alert, void* arg) {
  const auto* c = static_cast<const context::impl*>(arg);
  const char* host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const server_identity* id = host ? find(*c, host) : nullptr;
  if (!id) return SSL_TLSEXT_ERR_OK;  // the context's own certificate
  // References, not copies: the identity stays the context's.
  if (SSL_use_cert_and_key(ssl, id->leaf, id->key, id->chain, 1) != 1) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

struct pem_identity {
  X509* leaf = nullptr;
  STACK_OF(X509)* chain = nullptr;
  EVP_PKEY* key = nullptr;
  pem_identity() = default;
  pem_identity(const pem_identity&) = delete;
  pem_identity& operator=(const pem_identity&) = delete;
  ~pem_identity() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
  }
};

// Reads a chain (leaf first) and a key from two PEM sources and checks that they belong
// together.
bool load(BIO* certs, BIO* key, pem_identity& out) {
  out.leaf = PEM_read_bio_X509_AUX(certs, nullptr, nullptr, nullptr);
  if (!out.leaf) return false;
  out.chain = sk_X509_new_null();
  if (!out.chain) return false;
  while (X509* ca = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr)) {
    if (sk_X509_push(out.chain, ca) <= 0) {
      X509_free(ca);
      return false;
    }
  }
  ERR_clear_error();  // the loop ends on "no start line"
  out.key = PEM_read_bio_PrivateKey(key, nullptr, nullptr, nullptr);
  return out.key && X509_check_private_key(out.leaf, out.key) == 1;
}

result<void> add(context::impl& c, std::string_view name, BIO* certs, BIO* key) {
  pem_identity loaded;
  const bool ok = certs && key && load(certs, key, loaded);
  BIO_free(certs);
  BIO_free(key);
  ERR_clear_error();
  if (!ok) return make_error_code(error::bad_certificate_or_key);
  const std::string key_name = lower(name);
  auto same = std::find_if(c.identities.begin(), c.identities.end(),
                           [&](const server_identity& id) { return id.name == key_name; });
  if (same == c.identities.end()) {
    same = c.identities.insert(c.identities.end(), server_identity{key_name});
  } else {
    X509_free(same->leaf);
    sk_X509_pop_free(same->chain, X509_free);
    EVP_PKEY_free(same->key);
  }
  same->leaf = std::exchange(loaded.leaf, nullptr);
  same->chain = std::exchange(loaded.chain, nullptr);
  same->key = std::exchange(loaded.key, nullptr);
  SSL_CTX_set_tlsext_servername_callback(c.ctx, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(c.ctx, &c);
  return {};
}

bool refused(const context::impl* c, std::string_view name) {
  return !c || c->side != role::server || !valid_name(name);
}

BIO* memory(std::string_view pem) { return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())); }

}  // namespace

result<void> context::add_server_name(std::string_view name, const std::string& cert_chain_file,
                                      const std::string& key_file) {
  if (refused(impl_.get(), name)) return make_error_code(error::bad_config);
  return add(*impl_, name, BIO_new_file(cert_chain_file.c_str(), "r"),
             BIO_new_file(key_file.c_str(), "r"));
}

result<void> context::add_server_name_pem(std::string_view name, std::string_view cert_chain_pem,
                                          std::string_view key_pem) {
  if (refused(impl_.get(), name)) return make_error_code(error::bad_config);
  return add(*impl_, name, memory(cert_chain_pem), memory(key_pem));
}

}  // namespace corio::tls
