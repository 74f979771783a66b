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

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "exporters/basic_auth.h"
#include "exporters/http_server.h"
#include "exporters/web_setup.h"

namespace sanwatch {

// Thread-safe: requests are checked on the server thread while update()
// may come from the event loop (SIGHUP).
class MetricsAuth {
 public:
  // `web` null: no TLS, no auth, no extra headers (every request passes).
  explicit MetricsAuth(const WebSetup* web, const AuthRateLimits& limits = {});
  // Live: basic_auth_users and http_server_config.headers from `web` (null:
  // none). The client certificate policy belongs to the TLS credentials
  // the server started with, and stays.
  void update(const WebSetup* web);
  // The gate, then `route` if it lets the request through; the configured
  // headers go on every answer (refusals too).
  HttpResponse handle(const HttpRequest& req, const std::function<HttpResponse()>& route);
  std::uint64_t bcrypt_checks() const;  // bcrypt checks run, over every update

 private:
  // What update() replaces as a whole: a request sees one or the other.
  struct Gate {
    std::unique_ptr<BasicAuth> basic;  // with basic_auth_users
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::shared_ptr<Gate> make_gate(const WebSetup* web) const;
  std::shared_ptr<Gate> gate() const;
  bool client_cert_ok(const HttpRequest& req) const;
  std::optional<HttpResponse> check_password(const HttpRequest& req, BasicAuth& basic) const;

  const std::optional<ClientAuth> client_auth_;  // with TLS
  const AuthRateLimits limits_;
  mutable std::mutex mu_;
  std::shared_ptr<Gate> gate_;
  std::uint64_t retired_checks_ = 0;  // of gates replaced by update()
};

}  // namespace sanwatch
