// SPDX-License-Identifier: Apache-2.0
#include "exporters/web_setup.h"

#include <fmt/format.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <fstream>
#include <sstream>

namespace sanwatch {
namespace {

// PEM files and web.yml files are small; a bigger one is a wrong path.
constexpr std::streamsize kMaxFile = 1 << 20;

Result<std::string> read_small_file(const std::string& what, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return errno_error(fmt::format("{}: cannot read {}", what, path));
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (static_cast<std::streamsize>(s.size()) > kMaxFile)
    return Error{EINVAL, fmt::format("{}: {} is larger than 1 MiB", what, path)};
  return s;
}

struct CredentialsDeleter {
  void operator()(gnutls_certificate_credentials_st* c) const {
    gnutls_certificate_free_credentials(c);
  }
};
using Credentials = std::unique_ptr<gnutls_certificate_credentials_st, CredentialsDeleter>;

gnutls_datum_t datum(const std::string& s) {
  return {reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
          static_cast<unsigned>(s.size())};
}

Status check_with_gnutls(const TlsMaterial& m, const TlsServerConfig& t) {
  gnutls_certificate_credentials_t raw = nullptr;
  if (gnutls_certificate_allocate_credentials(&raw) < 0)
    return Error{ENOMEM, "gnutls_certificate_allocate_credentials"};
  Credentials creds(raw);
  const gnutls_datum_t cert = datum(m.cert_pem), key = datum(m.key_pem);
  // Also checks that the key belongs to the certificate.
  if (int rc = gnutls_certificate_set_x509_key_mem(creds.get(), &cert, &key, GNUTLS_X509_FMT_PEM);
      rc < 0)
    return Error{EINVAL, fmt::format("tls_server_config: cert_file {} with key_file {}: {}",
                                     t.cert_file, t.key_file, gnutls_strerror(rc))};
  if (!m.trust_pem.empty()) {
    const gnutls_datum_t ca = datum(m.trust_pem);
    const int n = gnutls_certificate_set_x509_trust_mem(creds.get(), &ca, GNUTLS_X509_FMT_PEM);
    if (n <= 0)
      return Error{EINVAL, fmt::format("tls_server_config: client_ca_file {}: {}", t.client_ca_file,
                                       n < 0 ? gnutls_strerror(n) : "no certificate in it")};
  }
  gnutls_priority_t prio = nullptr;
  const char* where = nullptr;
  if (int rc = gnutls_priority_init(&prio, m.priorities.c_str(), &where); rc < 0)
    return Error{EINVAL, fmt::format("TLS priorities \"{}\": {} at \"{}\"", m.priorities,
                                     gnutls_strerror(rc), where ? where : "")};
  gnutls_priority_deinit(prio);
  return {};
}

}  // namespace

Result<TlsMaterial> load_tls_material(const TlsServerConfig& t) {
  TlsMaterial m;
  m.client_auth = t.client_auth;
  m.priorities = gnutls_priorities(t);
  auto cert = read_small_file("tls_server_config.cert_file", t.cert_file);
  if (!cert) return cert.error();
  auto key = read_small_file("tls_server_config.key_file", t.key_file);
  if (!key) return key.error();
  m.cert_pem = std::move(cert).value();
  m.key_pem = std::move(key).value();
  if (!t.client_ca_file.empty()) {
    auto ca = read_small_file("tls_server_config.client_ca_file", t.client_ca_file);
    if (!ca) return ca.error();
    m.trust_pem = std::move(ca).value();
  }
  if (auto st = check_with_gnutls(m, t); !st) return st.error();
  return m;
}

Result<WebSetup> load_web_setup(const std::string& path) {
  auto text = read_small_file("metrics.web_config", path);
  if (!text) return text.error();
  auto cfg = parse_web_config(*text, path);
  if (!cfg) return cfg.error();
  WebSetup w{std::move(cfg).value(), std::nullopt};
  if (w.config.tls) {
    auto m = load_tls_material(*w.config.tls);
    if (!m) return Error{m.error().err, path + ": " + m.error().context};
    w.tls = std::move(m).value();
  }
  return w;
}

bool WebSetup::same_gate(const WebSetup& o) const {
  return config.basic_auth_users == o.config.basic_auth_users && config.headers == o.config.headers;
}

std::string describe(const WebSetup& w) {
  std::string out;
  if (w.config.tls) {
    const auto& t = *w.config.tls;
    out = fmt::format("TLS ({}{}, client certificates: {})", tls_version_name(t.min_version),
                      t.max_version ? fmt::format("..{}", tls_version_name(*t.max_version)) : "+",
                      client_auth_name(t.client_auth));
  } else {
    out = "plain HTTP";
  }
  const auto n = w.config.basic_auth_users.size();
  out += n ? fmt::format(", basic auth for {} user{}", n, n == 1 ? "" : "s") : ", no basic auth";
  return out;
}

}  // namespace sanwatch
