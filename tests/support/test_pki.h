// SPDX-License-Identifier: Apache-2.0
// A throwaway PKI for the TLS tests, made with the openssl CLI in a temp
// dir: a CA, a server certificate for 127.0.0.1/localhost and a client
// certificate signed by it, and a second ("rogue") CA with a client
// certificate of its own, which the server must not trust. EC P-256:
// quick to make and to handshake with.
#pragma once

#include <string>

#include "test_util.h"

namespace sanwatch::test {

class TestPki {
 public:
  // Throws std::runtime_error with openssl's output when a step fails.
  TestPki();
  const std::string& dir() const { return dir_.path(); }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
  // Files: ca.pem, server.pem, server.key, client.pem, client.key,
  // rogue-ca.pem, rogue-client.pem, rogue-client.key.

 private:
  TempDir dir_{"sanwatch-pki"};
};

// A $2y$ bcrypt hash of `password` at cost 10 (what htpasswd -B makes),
// through libxcrypt's crypt_gensalt_rn and crypt_rn.
std::string bcrypt_hash(const std::string& password);

}  // namespace sanwatch::test
