// SPDX-License-Identifier: Apache-2.0
#include "exporters/metrics_auth.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include <cstring>

namespace sanwatch {
namespace {

HttpResponse refusal(unsigned status, const char* text) {
  return {status, "text/plain; charset=utf-8", std::make_shared<const std::string>(text), {}};
}

HttpResponse unauthorized() {
  auto r = refusal(401, "Unauthorized\n");
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"sanwatch\"");
  return r;
}

// MHD's strings, freed with MHD_free.
struct MhdString {
  char* p = nullptr;
  bool secret = false;
  ~MhdString() {
    if (p && secret) explicit_bzero(p, std::strlen(p));
    if (p) MHD_free(p);
  }
};

}  // namespace

MetricsAuth::MetricsAuth(const WebSetup& web, const AuthRateLimits& limits)
    : headers_(web.config.headers) {
  if (web.tls) client_auth_ = web.tls->client_auth;
  if (web.config.has_auth())
    basic_ = std::make_unique<BasicAuth>(web.config.basic_auth_users, limits);
}

bool MetricsAuth::client_cert_ok(const HttpRequest& req) const {
  if (!client_auth_ || *client_auth_ == ClientAuth::kNoClientCert ||
      *client_auth_ == ClientAuth::kRequestClientCert)
    return true;
  const auto* ci = MHD_get_connection_info(req.connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  auto session = ci ? static_cast<gnutls_session_t>(ci->tls_session) : nullptr;
  if (!session) return false;
  unsigned n = 0;
  const bool given = gnutls_certificate_get_peers(session, &n) != nullptr && n > 0;
  if (!given) return *client_auth_ == ClientAuth::kVerifyClientCertIfGiven;
  if (*client_auth_ == ClientAuth::kRequireAnyClientCert) return true;
  unsigned status = 0;
  return gnutls_certificate_verify_peers2(session, &status) == 0 && status == 0;
}

std::optional<HttpResponse> MetricsAuth::check(const HttpRequest& req) {
  if (!client_cert_ok(req)) return refusal(403, "Forbidden: client certificate required\n");
  if (!basic_) return std::nullopt;
  MhdString user, password{nullptr, true};
  user.p = MHD_basic_auth_get_username_password(req.connection, &password.p);
  if (!user.p || !password.p) return unauthorized();
  switch (basic_->check(user.p, password.p, std::string(req.peer))) {
    case AuthResult::kOk:
    case AuthResult::kCached:
      return std::nullopt;
    case AuthResult::kWrong:
      return unauthorized();
    case AuthResult::kThrottled: {
      auto r = refusal(429, "Too many password checks; try again later\n");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
  }
  return unauthorized();
}

}  // namespace sanwatch
