#include "tls/test_pki.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace corio::test {

namespace {

struct key_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_free {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using cert_ptr = std::unique_ptr<X509, cert_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

key_ptr new_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  check(k != nullptr, "EVP_EC_gen");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Valid from `from_days` to `to_days` relative to now; self-signed when issuer is null.
cert_ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                   long from_days, long to_days,
                   const char* names = "DNS:localhost,IP:127.0.0.1") {
  static long serial = 1;
  cert_ptr c(X509_new());
  check(c != nullptr, "X509_new");
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), to_days * 86400);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(signer));
  if (ca) {
    add_ext(c.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c.get(), signer, NID_basic_constraints, "CA:FALSE");
    add_ext(c.get(), signer, NID_subject_alt_name, names);
    add_ext(c.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  add_ext(c.get(), signer, NID_subject_key_identifier, "hash");
  check(X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return c;
}

std::string pem_of(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

std::string pem_of(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

test_pki make() {
  test_pki p;
  key_ptr ca_key = new_key();
  cert_ptr ca = make_cert(ca_key.get(), "corio test CA", nullptr, nullptr, true, -1, 30);
  p.ca = {pem_of(ca.get()), pem_of(ca_key.get())};

  key_ptr server_key = new_key();
  cert_ptr server = make_cert(server_key.get(), "localhost", ca.get(), ca_key.get(), false, -1, 30);
  p.server = {pem_of(server.get()), pem_of(server_key.get())};

  cert_ptr expired =
      make_cert(server_key.get(), "localhost", ca.get(), ca_key.get(), false, -3, -1);
  p.expired = {pem_of(expired.get()), p.server.key};

  key_ptr other_key = new_key();
  cert_ptr other = make_cert(other_key.get(), "stranger CA", nullptr, nullptr, true, -1, 30);
  p.stranger_ca = pem_of(other.get());
  cert_ptr stranger =
      make_cert(server_key.get(), "localhost", other.get(), other_key.get(), false, -1, 30);
  p.stranger = {pem_of(stranger.get()), p.server.key};

  key_ptr second_key = new_key();
  cert_ptr second = make_cert(second_key.get(), "other.example", ca.get(), ca_key.get(), false, -1,
                              30, "DNS:other.example,DNS:*.wild.example");
  p.other = {pem_of(second.get()), pem_of(second_key.get())};
  return p;
}

}  // namespace

const test_pki& pki() {
  static const test_pki made = make();
  return made;
}

}  // namespace corio::test
