// SPDX-License-Identifier: Apache-2.0
// The exporter-toolkit web.yml parser (metrics.web_config): good files,
// every error with its line, relative paths, warnings for ignored keys;
// the exposure check behind check-config's warning.
#include "exporters/web_config.h"

#include <catch2/catch.hpp>

#include "cli/metrics_web.h"

using namespace sanwatch;

namespace {

constexpr const char* kHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

std::string error_of(const std::string& yaml) {
  auto w = parse_web_config(yaml, "/etc/sanwatch/web.yml");
  REQUIRE(!w.ok());
  return w.error().context;
}

}  // namespace

TEST_CASE("web config: a full file, relative paths resolved against its directory") {
  const std::string yaml = std::string(
                               "# node_exporter's format\n"
                               "tls_server_config:\n"
                               "  cert_file: server.pem\n"
                               "  key_file: /etc/ssl/private/server.key\n"
                               "  client_auth_type: RequireAndVerifyClientCert\n"
                               "  client_ca_file: ca/clients.pem\n"
                               "  min_version: TLS13\n"
                               "http_server_config:\n"
                               "  http2: false\n"
                               "  headers:\n"
                               "    Strict-Transport-Security: max-age=31536000\n"
                               "basic_auth_users:\n"
                               "  prometheus: ") +
                           kHash + "\n  alice: '" + kHash + "'\n";
  auto w = parse_web_config(yaml, "/etc/sanwatch/web.yml");
  REQUIRE(w.ok());
  REQUIRE(w->tls);
  CHECK(w->tls->cert_file == "/etc/sanwatch/server.pem");
  CHECK(w->tls->key_file == "/etc/ssl/private/server.key");
  CHECK(w->tls->client_ca_file == "/etc/sanwatch/ca/clients.pem");
  CHECK(w->tls->client_auth == ClientAuth::kRequireAndVerifyClientCert);
  CHECK(w->tls->min_version == TlsVersion::kTls13);
  CHECK(!w->tls->max_version);
  CHECK(gnutls_priorities(*w->tls) == "NORMAL:-VERS-ALL:+VERS-TLS1.3");
  REQUIRE(w->basic_auth_users.size() == 2);
  CHECK(w->basic_auth_users[0] == std::pair<std::string, std::string>{"prometheus", kHash});
  CHECK(w->basic_auth_users[1].first == "alice");
  CHECK(w->headers.size() == 1);
  CHECK(w->warnings.empty());
  CHECK(w->has_tls());
  CHECK(w->has_auth());
}

TEST_CASE("web config: empty file and empty sections mean plain HTTP without auth") {
  for (const char* yaml : {"", "# nothing\n", "tls_server_config:\n", "tls_server_config: {}\n",
                           "basic_auth_users:\n"}) {
    INFO(yaml);
    auto w = parse_web_config(yaml, "w.yml");
    REQUIRE(w.ok());
    CHECK(!w->has_tls());
    CHECK(!w->has_auth());
  }
}

TEST_CASE("web config: defaults and version ranges become GnuTLS priorities") {
  auto w = parse_web_config(
      "tls_server_config:\n  cert_file: a.pem\n  key_file: a.key\n  max_version: TLS12\n",
      "rel/web.yml");
  REQUIRE(w.ok());
  CHECK(w->tls->client_auth == ClientAuth::kNoClientCert);
  CHECK(w->tls->min_version == TlsVersion::kTls12);
  CHECK(w->tls->cert_file == "rel/a.pem");
  CHECK(gnutls_priorities(*w->tls) == "NORMAL:-VERS-ALL:+VERS-TLS1.2");
  TlsServerConfig t;
  CHECK(gnutls_priorities(t) == "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
  t.min_version = TlsVersion::kTls10;
  CHECK(gnutls_priorities(t) ==
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0");
}

TEST_CASE("web config: Go-only TLS knobs and http2 are accepted with a warning naming the line") {
  auto w = parse_web_config(
      "tls_server_config:\n  cert_file: a.pem\n  key_file: a.key\n"
      "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: true\n"
      "http_server_config:\n  http2: true\n",
      "w.yml");
  REQUIRE(w.ok());
  REQUIRE(w->warnings.size() == 3);
  CHECK(w->warnings[0] ==
        "w.yml:4:18: warning: tls_server_config.cipher_suites is ignored: GnuTLS's NORMAL "
        "priorities choose the cipher suites and curves");
  CHECK(w->warnings[1].starts_with("w.yml:5:32: warning: tls_server_config.prefer_server"));
  CHECK(w->warnings[2].starts_with("w.yml:7:10: warning: http_server_config.http2 is ignored"));
}

TEST_CASE("web config: each error names the file, line, column and key") {
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  ca_file: c\n") ==
        "/etc/sanwatch/web.yml:4:3: tls_server_config.ca_file: unknown key");
  CHECK(error_of("basic_auth: {}\n") ==
        "/etc/sanwatch/web.yml:1:1: basic_auth: unknown key (tls_server_config, "
        "http_server_config, basic_auth_users)");
  CHECK(
      error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n") ==
      "/etc/sanwatch/web.yml:4:21: tls_server_config.client_auth_type: \"Maybe\" is not one of: "
      "NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, "
      "VerifyClientCertIfGiven, RequireAndVerifyClientCert");
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14\n")
            .starts_with("/etc/sanwatch/web.yml:4:16: tls_server_config.min_version: \"TLS14\""));
  CHECK(error_of("tls_server_config:\n  key_file: b\n") ==
        "/etc/sanwatch/web.yml:2:3: tls_server_config: cert_file is missing");
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                 "  client_auth_type: RequireAndVerifyClientCert\n") ==
        "/etc/sanwatch/web.yml:2:3: tls_server_config: client_auth_type "
        "RequireAndVerifyClientCert needs client_ca_file");
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n")
            .starts_with("/etc/sanwatch/web.yml:2:3: tls_server_config: client_ca_file without"));
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
                 "  max_version: TLS12\n") ==
        "/etc/sanwatch/web.yml:2:3: tls_server_config: max_version is older than min_version");
  CHECK(error_of("tls_server_config:\n  cert_file: [a]\n  key_file: b\n") ==
        "/etc/sanwatch/web.yml:2:14: tls_server_config.cert_file: must be a string");
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n")
            .starts_with("/etc/sanwatch/web.yml:4:24: tls_server_config.client_allowed_sans: "
                         "not supported"));
  CHECK(error_of("basic_auth_users:\n  alice: secret\n") ==
        "/etc/sanwatch/web.yml:2:10: basic_auth_users.alice: not a bcrypt hash ($2y$, $2b$ or "
        "$2a$, 60 characters; htpasswd -nBC 10 alice makes one)");
  CHECK(error_of(std::string("basic_auth_users:\n  a:b: ") + kHash + "\n")
            .starts_with("/etc/sanwatch/web.yml:2:3: basic_auth_users: user \"a:b\""));
  CHECK(error_of(std::string("basic_auth_users:\n  bob: ") + kHash + "\n  bob: " + kHash + "\n") ==
        "/etc/sanwatch/web.yml:3:3: basic_auth_users.bob: duplicate key");
  CHECK(error_of("http_server_config:\n  headers:\n    Server: sanwatch\n")
            .starts_with("/etc/sanwatch/web.yml:3:5: http_server_config.headers: Server is not"));
  CHECK(error_of("http_server_config:\n  http2: maybe\n") ==
        "/etc/sanwatch/web.yml:2:10: http_server_config.http2: must be true or false");
  CHECK(error_of("- a\n- b\n") == "/etc/sanwatch/web.yml:1:1: must be a mapping of keys");
  CHECK(error_of("tls_server_config: [\n").starts_with("/etc/sanwatch/web.yml:2:1: "));
  CHECK(error_of(std::string(100, '[')) == "/etc/sanwatch/web.yml: nested deeper than 32 levels");
}

TEST_CASE("web config: every error is reported, not just the first") {
  const auto e = error_of(
      "tls_server_config:\n  cert_file: a\n  key_file: b\n  bogus: 1\n"
      "basic_auth_users:\n  alice: nope\n");
  CHECK(e.find(":4:3: tls_server_config.bogus: unknown key") != std::string::npos);
  CHECK(e.find(":6:10: basic_auth_users.alice: not a bcrypt hash") != std::string::npos);
}

TEST_CASE("metrics exposure: loopback listen addresses") {
  for (const char* l :
       {"127.0.0.1:9847", "127.3.2.1:1", "[::1]:9847", "localhost:9847", "[::ffff:127.0.0.1]:80"})
    CHECK(is_loopback_listen(l));
  for (const char* l : {"0.0.0.0:9847", ":9847", "[::]:9847", "10.1.2.3:9847", "db1:9847"})
    CHECK(!is_loopback_listen(l));
}

TEST_CASE("metrics exposure: check-config's warning for an open endpoint") {
  AgentConfig c;
  c.config.metrics.listen = "0.0.0.0:9847";
  auto w = metrics_warnings(c);
  REQUIRE(w.size() == 1);
  CHECK(
      w[0].starts_with("warning: metrics.listen = \"0.0.0.0:9847\" is reachable beyond this "
                       "host and metrics.web_config is unset"));
  auto web = std::make_shared<WebSetup>();
  c.web = web;
  CHECK(metrics_warnings(c).size() == 1);  // a web.yml with neither TLS nor auth
  web->config.basic_auth_users.emplace_back("p", kHash);
  CHECK(metrics_warnings(c).empty());
  c.web = nullptr;
  c.config.metrics.listen = "127.0.0.1:9847";
  CHECK(metrics_warnings(c).empty());
}
