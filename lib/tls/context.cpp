// corio::tls::context: an SSL_CTX with corio's defaults (TLS 1.2+, verification on for
// clients, renegotiation refused, client sessions kept per host for resumption).
#include <cstring>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls/internal.hpp"

namespace corio::tls {

bool available() noexcept { return true; }

context::impl::~impl() {
  for (auto& [host, s] : sessions) SSL_SESSION_free(s);
  for (auto& id : identities) {
    X509_free(id.leaf);
    sk_X509_pop_free(id.chain, X509_free);
    EVP_PKEY_free(id.key);
  }
  SSL_CTX_free(ctx);
}

void context::impl::remember(const std::string& host, SSL_SESSION* s) {
  const std::lock_guard lock(sessions_mutex);
  auto [it, inserted] = sessions.try_emplace(host, s);
  if (!inserted) {
    SSL_SESSION_free(it->second);
    it->second = s;
  }
}

SSL_SESSION* context::impl::recall(std::string_view host) {
  const std::lock_guard lock(sessions_mutex);
  auto it = sessions.find(host);
  if (it == sessions.end()) return nullptr;
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

namespace {

stream::impl* stream_of(SSL* ssl) {
  return static_cast<stream::impl*>(SSL_get_ex_data(ssl, detail::stream_index()));
}

std::string name_of(const X509_NAME* name) {
  if (!name) return "?";
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return "?";
  X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(b);
  return out;
}

// Keeps the first failure's account (which certificate, at which depth, why): OpenSSL's own
// error queue says only "certificate verify failed".
int on_verify(int ok, X509_STORE_CTX* store) {
  if (ok) return ok;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  stream::impl* s = ssl ? stream_of(ssl) : nullptr;
  if (!s || !s->verify_detail.empty()) return ok;
  const int err = X509_STORE_CTX_get_error(store);
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  s->verify_detail = std::string("certificate verify failed: ") +
                     X509_verify_cert_error_string(err) + " (depth " +
                     std::to_string(X509_STORE_CTX_get_error_depth(store)) + ", subject " +
                     name_of(cert ? X509_get_subject_name(cert) : nullptr) + ", issuer " +
                     name_of(cert ? X509_get_issuer_name(cert) : nullptr);
  if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    s->verify_detail += ", expected " + s->host;
  }
  s->verify_detail += ")";
  return ok;
}

// TLS 1.2 renegotiation (refused by SSL_OP_NO_RENEGOTIATION) shows as a second handshake
// start; TLS 1.3's post-handshake messages also report one, and are fine.
// A server refusing one answers with a no_renegotiation alert, seen here too.
void on_info(const SSL* ssl, int where, int ret) {
  auto* s = stream_of(const_cast<SSL*>(ssl));
  if (!s) return;
  if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && (ret & 0xff) == SSL_AD_NO_RENEGOTIATION) {
    s->renegotiation_seen = true;
  }
  if ((where & SSL_CB_HANDSHAKE_START) && SSL_version(ssl) < TLS1_3_VERSION &&
      SSL_is_init_finished(ssl)) {
    s->renegotiation_seen = true;
  }
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
  stream::impl* s = stream_of(ssl);
  if (!s || !s->ctx || !s->ctx->resume || s->host.empty()) return 0;
  s->ctx->remember(s->host, session);
  return 1;  // we keep the reference
}

int on_alpn_select(SSL*, const unsigned char** out, unsigned char* outlen,
                   const unsigned char* in, unsigned int inlen, void* arg) {
  auto* c = static_cast<context::impl*>(arg);
  unsigned char* chosen = nullptr;
  // The server's preference order: its list first.
  if (SSL_select_next_proto(&chosen, outlen, c->alpn.data(),
                            static_cast<unsigned>(c->alpn.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

std::error_code failed(error e) {
  ERR_clear_error();
  return e;
}

result<context> make(role side) {
  auto i = std::make_shared<context::impl>();
  i->side = side;
  i->ctx = SSL_CTX_new(side == role::client ? TLS_client_method() : TLS_server_method());
  if (!i->ctx) return failed(error::bad_config);
  SSL_CTX_set_min_proto_version(i->ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(i->ctx, SSL_OP_NO_RENEGOTIATION);
  // A write that encrypted part of a buffer may be retried from another address (the
  // caller's buffer is not ours to pin).
  SSL_CTX_set_mode(i->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_info_callback(i->ctx, on_info);
  if (side == role::client) {
    SSL_CTX_set_verify(i->ctx, SSL_VERIFY_PEER, on_verify);
    if (SSL_CTX_set_default_verify_paths(i->ctx) != 1) ERR_clear_error();  // no store: load_ca
    SSL_CTX_set_session_cache_mode(i->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(i->ctx, on_new_session);
  } else {
    SSL_CTX_set_verify(i->ctx, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_session_cache_mode(i->ctx, SSL_SESS_CACHE_SERVER);
    static const unsigned char id[] = "corio";
    SSL_CTX_set_session_id_context(i->ctx, id, sizeof id - 1);
  }
  return context(std::move(i));
}

template <class Load>
result<void> with_pem(std::string_view pem, Load load) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!b) return failed(error::bad_certificate_or_key);
  const bool ok = load(b);
  BIO_free(b);
  if (!ok) return failed(error::bad_certificate_or_key);
  return {};
}

}  // namespace

result<context> context::client() { return make(role::client); }
result<context> context::server() { return make(role::server); }

result<context> context::server(const std::string& cert_chain_file, const std::string& key_file) {
  auto c = make(role::server);
  if (!c) return c;
  if (auto r = c->use_certificate_chain_file(cert_chain_file); !r) return r.error();
  if (auto r = c->use_private_key_file(key_file); !r) return r.error();
  return c;
}

result<void> context::use_certificate_chain_file(const std::string& path) {
  if (SSL_CTX_use_certificate_chain_file(impl_->ctx, path.c_str()) != 1) {
    return failed(error::bad_certificate_or_key);
  }
  return {};
}

result<void> context::use_private_key_file(const std::string& path) {
  if (SSL_CTX_use_PrivateKey_file(impl_->ctx, path.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(impl_->ctx) != 1) {
    return failed(error::bad_certificate_or_key);
  }
  return {};
}

result<void> context::use_certificate_chain_pem(std::string_view pem) {
  SSL_CTX* ctx = impl_->ctx;
  return with_pem(pem, [ctx](BIO* b) {
    X509* leaf = PEM_read_bio_X509_AUX(b, nullptr, nullptr, nullptr);
    if (!leaf) return false;
    const bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    if (!ok) return false;
    SSL_CTX_clear_chain_certs(ctx);
    while (X509* ca = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
        X509_free(ca);
        return false;
      }
    }
    ERR_clear_error();  // the loop ends on "no start line"
    return true;
  });
}

result<void> context::use_private_key_pem(std::string_view pem) {
  SSL_CTX* ctx = impl_->ctx;
  return with_pem(pem, [ctx](BIO* b) {
    EVP_PKEY* key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    if (!key) return false;
    const bool ok = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    return ok;
  });
}

result<void> context::load_ca_file(const std::string& path) {
  if (SSL_CTX_load_verify_locations(impl_->ctx, path.c_str(), nullptr) != 1) {
    return failed(error::bad_certificate_or_key);
  }
  return {};
}

result<void> context::load_ca_pem(std::string_view pem) {
  X509_STORE* store = SSL_CTX_get_cert_store(impl_->ctx);
  return with_pem(pem, [store](BIO* b) {
    int added = 0;
    while (X509* ca = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
      const bool ok = X509_STORE_add_cert(store, ca) == 1;
      X509_free(ca);
      if (!ok) return false;
      ++added;
    }
    ERR_clear_error();
    return added > 0;
  });
}

void context::set_verify_peer(bool on) {
  int mode = SSL_VERIFY_NONE;
  if (on) mode = SSL_VERIFY_PEER;
  if (on && impl_->side == role::server) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(impl_->ctx, mode, on ? on_verify : nullptr);
}

result<void> context::set_alpn(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) return make_error_code(error::bad_config);
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  impl_->alpn = std::move(wire);
  if (impl_->side == role::client) {
    // 0 is success here, unlike the rest of OpenSSL.
    if (SSL_CTX_set_alpn_protos(impl_->ctx, impl_->alpn.data(),
                                static_cast<unsigned>(impl_->alpn.size())) != 0) {
      return failed(error::bad_config);
    }
  } else {
    SSL_CTX_set_alpn_select_cb(impl_->ctx, on_alpn_select, impl_.get());
  }
  return {};
}

void context::set_session_resumption(bool on) {
  impl_->resume = on;
  if (impl_->side == role::server && !on) {
    SSL_CTX_set_session_cache_mode(impl_->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(impl_->ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(impl_->ctx, 0);
  }
}

void* context::native_handle() const noexcept { return impl_ ? impl_->ctx : nullptr; }

}  // namespace corio::tls
