// SPDX-License-Identifier: Apache-2.0
// The gate in front of every route when metrics.web_config is set: the
// client certificate (per tls_server_config.client_auth_type), then basic
// auth (basic_auth.h). It runs after the TLS handshake, because
// libmicrohttpd offers no hook into it: where Go's exporter-toolkit fails
// the handshake, sanwatch answers 403.
//
//   client_auth_type            GnuTLS asks for a cert   refused with 403 when
//   NoClientCert                no                       never
//   RequestClientCert           yes, if client_ca_file   never (not checked)
//   RequireAnyClientCert        yes                      no certificate
//   VerifyClientCertIfGiven     yes                      a certificate that does not verify
//   RequireAndVerifyClientCert  yes                      none, or one that does not verify
//
// "Verify": gnutls_certificate_verify_peers2 against client_ca_file
// (signature chain, validity dates), no name check — as Go's.
#pragma once

#include <memory>
#include <optional>

#include "exporters/basic_auth.h"
#include "exporters/http_server.h"
#include "exporters/web_setup.h"

namespace sanwatch {

class MetricsAuth {
 public:
  explicit MetricsAuth(const WebSetup& web, const AuthRateLimits& limits = {});
  // nullopt: the request may go on; otherwise the refusal to send (401
  // with WWW-Authenticate, 403, or 429 over the bcrypt budget).
  std::optional<HttpResponse> check(const HttpRequest& req);
  // http_server_config.headers, added to every response.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  std::uint64_t bcrypt_checks() const { return basic_ ? basic_->verifications() : 0; }

 private:
  bool client_cert_ok(const HttpRequest& req) const;

  std::optional<ClientAuth> client_auth_;  // with TLS
  std::unique_ptr<BasicAuth> basic_;       // with basic_auth_users
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace sanwatch
