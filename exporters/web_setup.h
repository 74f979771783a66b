// SPDX-License-Identifier: Apache-2.0
// Everything metrics.web_config names, read and checked: the web.yml
// (web_config.h) and the PEM files of its tls_server_config, loaded into
// GnuTLS credentials once to prove they work (the key matches the
// certificate, the CA file holds certificates, the priority string is
// valid) before the server is started with them — or, on a reload, before
// the new configuration is accepted.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "exporters/web_config.h"

namespace sanwatch {

struct TlsMaterial {
  std::string cert_pem, key_pem, trust_pem;  // trust: empty without client_ca_file
  std::string priorities;                    // GnuTLS priority string (min/max_version)
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  bool operator==(const TlsMaterial&) const = default;
};

struct WebSetup {
  WebConfig config;
  std::optional<TlsMaterial> tls;

  // Same basic_auth_users and headers: what a reload can apply live.
  bool same_gate(const WebSetup& o) const;
};

// Reads and checks `path`; errors name the file (and line) or the PEM file.
Result<WebSetup> load_web_setup(const std::string& path);
// The PEM material of a parsed tls_server_config, checked with GnuTLS.
Result<TlsMaterial> load_tls_material(const TlsServerConfig& t);

// One line for logs and check-config: "TLS (TLS12+, client certificates:
// RequireAndVerifyClientCert), basic auth for 2 users".
std::string describe(const WebSetup& w);

}  // namespace sanwatch
