// Whether kernel TLS could be used here: the kernel must accept the "tls" TCP upper-layer
// protocol (CONFIG_TLS, built in or the `tls` module) and OpenSSL must be built with kTLS.
// Asked of a real loopback connection, because TCP_ULP is refused on a socket that is not
// connected and the module (where there is one) loads on first use.
#include <cerrno>
#include <cstring>
#include <string>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/opensslconf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <corio/tls.hpp>

namespace corio::tls {

namespace {

// errno of setsockopt(TCP_ULP, "tls") on a connected loopback socket; 0 when accepted.
int probe_kernel() {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int result = EINVAL;
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof at;
  if (listener >= 0 && client >= 0 &&
      ::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0 &&
      ::listen(listener, 1) == 0 &&
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &len) == 0 &&
      ::connect(client, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0) {
    result = ::setsockopt(client, SOL_TCP, TCP_ULP, "tls", sizeof "tls") == 0 ? 0 : errno;
  }
  if (client >= 0) ::close(client);
  if (listener >= 0) ::close(listener);
  return result;
}

}  // namespace

ktls_report ktls_status() {
  ktls_report r;
#ifndef OPENSSL_NO_KTLS
  r.openssl = true;
#endif
  const int err = probe_kernel();
  r.kernel = err == 0;
  if (r.kernel) {
    r.detail = "kernel accepts TCP_ULP \"tls\"";
  } else if (err == ENOENT) {
    r.detail = "kernel has no \"tls\" upper-layer protocol (CONFIG_TLS off or module not loadable)";
  } else {
    r.detail = std::string("TCP_ULP \"tls\" refused: ") + std::strerror(err);
  }
  r.detail += r.openssl ? "; OpenSSL built with kTLS" : "; OpenSSL built without kTLS";
  return r;
}

}  // namespace corio::tls
