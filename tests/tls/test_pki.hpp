// Certificates made at run time with OpenSSL's API, so nothing checked in can expire: a CA, a
// server certificate it signed (localhost, 127.0.0.1), an expired one, a CA nobody trusts, and a
// second server certificate for other names (SNI).
#pragma once

#include <string>

namespace corio::test {

struct pem_pair {
  std::string cert;  // PEM certificate (a server's is followed by nothing: the CA is trusted)
  std::string key;   // PEM private key
};

struct test_pki {
  pem_pair ca;
  pem_pair server;       // CN=localhost, SAN DNS:localhost and IP:127.0.0.1, valid now
  pem_pair expired;      // the same names, expired yesterday
  pem_pair stranger;     // CN=localhost signed by a CA the tests never trust
  std::string stranger_ca;
  pem_pair other;        // CN=other.example, SAN DNS:other.example and DNS:*.wild.example
};

// Made once per process (EC P-256 keys: milliseconds).
const test_pki& pki();

}  // namespace corio::test
