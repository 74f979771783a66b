// SPDX-License-Identifier: Apache-2.0
// The /metrics web configuration file (metrics.web_config): the format of
// the Prometheus exporter-toolkit (node_exporter's --web.config.file), so
// one web.yml serves every exporter on a host. Parsed by yaml-cpp into a
// plain struct; pure: no file is read here (tls_material.h reads the
// certificate files and web_setup.h the file itself).
//
// Strict like exporter-toolkit: unknown keys are errors. Keys that name Go
// TLS knobs GnuTLS has no equivalent for are accepted with a warning.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sanwatch {

// exporter-toolkit's client_auth_type values (Go's tls.ClientAuthType).
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

struct TlsServerConfig {
  // Absolute paths: relative ones in the file resolve against its directory.
  std::string cert_file, key_file, client_ca_file;
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;  // exporter-toolkit's default
  std::optional<TlsVersion> max_version;        // unset: the newest GnuTLS has
};

struct WebConfig {
  std::string source;  // the file, for messages
  std::optional<TlsServerConfig> tls;
  std::vector<std::pair<std::string, std::string>> basic_auth_users;  // user -> bcrypt hash
  std::vector<std::pair<std::string, std::string>> headers;           // http_server_config.headers
  // "file:line:column: ..." lines about keys accepted but not applied.
  std::vector<std::string> warnings;

  bool has_tls() const { return tls.has_value(); }
  bool has_auth() const { return !basic_auth_users.empty(); }
};

// Parses web.yml text. `source` names the file in messages and is the
// directory relative paths resolve against. Errors are
// "source:line:column: key: what is wrong", one per line, all of them.
Result<WebConfig> parse_web_config(std::string_view text, const std::string& source);

std::string_view client_auth_name(ClientAuth a);
std::string_view tls_version_name(TlsVersion v);  // "TLS12"
// GnuTLS priority string allowing min..max (max unset: up to TLS 1.3).
std::string gnutls_priorities(const TlsServerConfig& t);

}  // namespace sanwatch
