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

MetricsAuth::MetricsAuth(const WebSetup* web, const AuthRateLimits& limits)
    : client_auth_(web && web->tls ? std::optional(web->tls->client_auth) : std::nullopt),
      limits_(limits),
      gate_(make_gate(web)) {}

std::shared_ptr<MetricsAuth::Gate> MetricsAuth::make_gate(const WebSetup* web) const {
  auto g = std::make_shared<Gate>();
  if (!web) return g;
  if (web->config.has_auth())
    g->basic = std::make_unique<BasicAuth>(web->config.basic_auth_users, limits_);
  g->headers = web->config.headers;
  return g;
}

void MetricsAuth::update(const WebSetup* web) {
  auto next = make_gate(web);
  std::lock_guard<std::mutex> lock(mu_);
  if (gate_->basic) retired_checks_ += gate_->basic->verifications();
  gate_ = std::move(next);
}

std::shared_ptr<MetricsAuth::Gate> MetricsAuth::gate() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gate_;
}

std::uint64_t MetricsAuth::bcrypt_checks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retired_checks_ + (gate_->basic ? gate_->basic->verifications() : 0);
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

std::optional<HttpResponse> MetricsAuth::check_password(const HttpRequest& req,
                                                        BasicAuth& basic) const {
  MhdString user, password{nullptr, true};
  user.p = MHD_basic_auth_get_username_password(req.connection, &password.p);
  if (!user.p || !password.p) return unauthorized();
  switch (basic.check(user.p, password.p, std::string(req.peer))) {
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

HttpResponse MetricsAuth::handle(const HttpRequest& req,
                                 const std::function<HttpResponse()>& route) {
  const auto g = gate();
  std::optional<HttpResponse> r;
  if (!client_cert_ok(req))
    r = refusal(403, "Forbidden: client certificate required\n");
  else if (g->basic)
    r = check_password(req, *g->basic);
  if (!r) r = route();
  for (const auto& h : g->headers) r->headers.push_back(h);
  return *std::move(r);
}

}  // namespace sanwatch
