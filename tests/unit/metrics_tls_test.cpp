// SPDX-License-Identifier: Apache-2.0
// /metrics with metrics.web_config: a real server on 127.0.0.1:0 with a
// test PKI made by openssl at test time, scraped with the curl CLI (OpenSSL,
// i.e. another TLS stack than the server's GnuTLS): HTTPS with a client
// certificate and a password works; plain HTTP, a wrong or missing
// password, an untrusted client certificate and TLS 1.2 under
// min_version TLS13 are refused; the client_auth_type table; bcrypt's
// cache and budget on the wire.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

#include "exporters/metrics.h"
#include "exporters/web_setup.h"
#include "process.h"
#include "test_pki.h"

using namespace sanwatch;
using namespace std::chrono_literals;
using sanwatch::test::run_command;
using sanwatch::test::TestPki;

namespace {

const std::string& prometheus_hash() {
  static const std::string h = sanwatch::test::bcrypt_hash("scrape-me");
  return h;
}

// A server with this web.yml (written next to the PKI: relative paths).
std::unique_ptr<MetricsExporter> serve(const TestPki& pki, const std::string& web_yml) {
  const std::string path = pki.path("web.yml");
  std::ofstream(path) << web_yml;
  auto web = load_web_setup(path);
  INFO(web_yml);
  REQUIRE(web.ok());
  MetricsServerSettings s;
  s.listen = "127.0.0.1:0";
  s.web = std::make_shared<const WebSetup>(std::move(web).value());
  auto e = MetricsExporter::start(s);
  REQUIRE(e.ok());
  MetricsSnapshot snap;
  snap.version = "test";
  (*e)->publish(snap);
  return std::move(e).value();
}

std::string tls_yml(const std::string& client_auth, const std::string& extra = "") {
  return fmt::format(
      "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
      "  client_ca_file: ca.pem\n  client_auth_type: {}\n{}",
      client_auth, extra);
}

std::string users_yml() { return "basic_auth_users:\n  prometheus: " + prometheus_hash() + "\n"; }

struct Scrape {
  int curl_exit = -1;
  int status = 0;  // 0: no HTTP answer
  std::string body, err;
};

// curl to 127.0.0.1:port with these options; "-" for no client cert.
Scrape curl(const TestPki& pki, int port, const std::string& client,
            const std::vector<std::string>& extra = {}, const std::string& scheme = "https",
            const std::string& path = "/metrics") {
  std::vector<std::string> argv = {
      "curl",           "-sS", "--max-time",   "5",        "-o",
      pki.path("body"), "-w",  "%{http_code}", "--cacert", pki.path("ca.pem")};
  if (client != "-") {
    argv.insert(argv.end(),
                {"--cert", pki.path(client + ".pem"), "--key", pki.path(client + ".key")});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(fmt::format("{}://127.0.0.1:{}{}", scheme, port, path));
  auto r = run_command(argv, 15s);
  Scrape s;
  s.curl_exit = r.exit_code;
  s.status = std::atoi(r.out.c_str());
  s.err = r.err;
  std::ifstream f(pki.path("body"));
  s.body.assign(std::istreambuf_iterator<char>(f), {});
  std::remove(pki.path("body").c_str());
  return s;
}

const std::vector<std::string> kRightPassword = {"-u", "prometheus:scrape-me"};

}  // namespace

TEST_CASE("metrics tls: HTTPS with client cert and password; plain HTTP, bad password refused") {
  TestPki pki;
  auto e = serve(pki, tls_yml("RequireAndVerifyClientCert") + users_yml());
  const int port = e->port();
  auto ok = curl(pki, port, "client", kRightPassword);
  INFO(ok.err);
  CHECK(ok.status == 200);
  CHECK(ok.body.find("sanwatch_build_info{") != std::string::npos);
  auto root = curl(pki, port, "client", kRightPassword, "https", "/");
  CHECK(root.status == 200);
  // Plain HTTP to the TLS port: no HTTP answer at all.
  auto plain = curl(pki, port, "-", kRightPassword, "http");
  CHECK(plain.status == 0);
  CHECK(plain.curl_exit != 0);
  auto wrong = curl(pki, port, "client", {"-u", "prometheus:wrong", "-D", pki.path("headers")});
  CHECK(wrong.status == 401);
  std::ifstream hf(pki.path("headers"));
  const std::string headers(std::istreambuf_iterator<char>(hf), {});
  CHECK(headers.find("WWW-Authenticate: Basic realm=\"sanwatch\"") != std::string::npos);
  CHECK(curl(pki, port, "client", {"-u", "nobody:scrape-me"}).status == 401);
  auto none = curl(pki, port, "client");
  CHECK(none.status == 401);
  CHECK(curl(pki, port, "client", {}, "https", "/").status == 401);  // / is behind auth too
  const auto stats = e->http_stats();
  CHECK(stats.requests.at(200) == 2);
  CHECK(stats.requests.at(401) == 4);
}

TEST_CASE("metrics tls: an untrusted client certificate is refused (RequireAndVerifyClientCert)") {
  TestPki pki;
  auto e = serve(pki, tls_yml("RequireAndVerifyClientCert"));
  const int port = e->port();
  CHECK(curl(pki, port, "client").status == 200);
  CHECK(curl(pki, port, "rogue-client").status == 403);
  CHECK(curl(pki, port, "-").status == 403);
}

TEST_CASE("metrics tls: what each client_auth_type lets through") {
  TestPki pki;
  struct Row {
    const char* type;
    int trusted, rogue, none;
  };
  for (const Row& row :
       {Row{"RequestClientCert", 200, 200, 200}, Row{"RequireAnyClientCert", 200, 200, 403},
        Row{"VerifyClientCertIfGiven", 200, 403, 200},
        Row{"RequireAndVerifyClientCert", 200, 403, 403}}) {
    INFO(row.type);
    auto e = serve(pki, tls_yml(row.type));
    CHECK(curl(pki, e->port(), "client").status == row.trusted);
    CHECK(curl(pki, e->port(), "rogue-client").status == row.rogue);
    CHECK(curl(pki, e->port(), "-").status == row.none);
  }
  // NoClientCert: no client_ca_file, nobody is asked.
  auto e = serve(pki, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n");
  CHECK(curl(pki, e->port(), "-").status == 200);
  CHECK(curl(pki, e->port(), "rogue-client").status == 200);
}

TEST_CASE("metrics tls: TLS 1.2 is refused when min_version is TLS13") {
  TestPki pki;
  auto e = serve(pki,
                 "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                 "  min_version: TLS13\n");
  auto tls12 = curl(pki, e->port(), "-", {"--tlsv1.2", "--tls-max", "1.2"});
  CHECK(tls12.status == 0);
  CHECK(tls12.curl_exit == 35);  // CURLE_SSL_CONNECT_ERROR: the handshake failed
  CHECK(curl(pki, e->port(), "-", {"--tlsv1.3"}).status == 200);
  auto e12 = serve(pki, "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n");
  CHECK(curl(pki, e12->port(), "-", {"--tlsv1.2", "--tls-max", "1.2"}).status == 200);
}

TEST_CASE(
    "metrics tls: one bcrypt for many scrapes; a wrong-password flood hits the budget (429)") {
  TestPki pki;
  auto e = serve(pki, tls_yml("RequireAndVerifyClientCert") + users_yml());
  const int port = e->port();
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(curl(pki, port, "client", kRightPassword).status == 200);
  const auto first = std::chrono::steady_clock::now() - t0;
  for (int i = 0; i < 5; ++i) REQUIRE(curl(pki, port, "client", kRightPassword).status == 200);
  const auto six = std::chrono::steady_clock::now() - t0;
  CHECK(e->bcrypt_checks() == 1);
  using Ms = std::chrono::duration<double, std::milli>;
  WARN("first scrape (one bcrypt) " << Ms(first).count() << " ms; six scrapes " << Ms(six).count()
                                    << " ms");
  // Per source: a burst of 4 checks, then 1/s. A flood of 12 wrong
  // passwords within a second or two gets mostly 429s without a check.
  int refused_401 = 0, refused_429 = 0;
  for (int i = 0; i < 12; ++i) {
    const int st = curl(pki, port, "client", {"-u", "prometheus:wrong"}).status;
    refused_401 += st == 401;
    refused_429 += st == 429;
  }
  CHECK(refused_401 + refused_429 == 12);
  CHECK(refused_429 >= 4);
  CHECK(e->bcrypt_checks() == 1 + static_cast<std::uint64_t>(refused_401));
  // The scraper with the right password is not locked out: its success is cached.
  CHECK(curl(pki, port, "client", kRightPassword).status == 200);
  CHECK(e->http_stats().requests.at(429) == static_cast<std::uint64_t>(refused_429));
}

TEST_CASE("metrics tls: basic auth without TLS; http_server_config.headers on every answer") {
  TestPki pki;
  auto e = serve(pki, users_yml() +
                          "http_server_config:\n  headers:\n"
                          "    X-Content-Type-Options: nosniff\n    X-Frame-Options: deny\n");
  const int port = e->port();
  auto headers_of = [&](const std::vector<std::string>& auth) {
    std::vector<std::string> extra = {"-D", pki.path("headers")};
    extra.insert(extra.end(), auth.begin(), auth.end());
    const int status = curl(pki, port, "-", extra, "http").status;
    std::ifstream f(pki.path("headers"));
    return std::pair{status, std::string(std::istreambuf_iterator<char>(f), {})};
  };
  for (const auto& [auth, status] :
       {std::pair{kRightPassword, 200}, std::pair{std::vector<std::string>{}, 401}}) {
    const auto [got, headers] = headers_of(auth);
    INFO(headers);
    CHECK(got == status);
    CHECK(headers.find("X-Content-Type-Options: nosniff\r\n") != std::string::npos);
    CHECK(headers.find("X-Frame-Options: deny\r\n") != std::string::npos);
  }
}

TEST_CASE("metrics tls: users and headers change live; the client certificate policy stays") {
  TestPki pki;
  auto e = serve(pki, tls_yml("RequireAndVerifyClientCert"));
  const int port = e->port();
  CHECK(curl(pki, port, "client").status == 200);
  std::ofstream(pki.path("web2.yml")) << tls_yml("NoClientCert") << users_yml();
  auto web = load_web_setup(pki.path("web2.yml"));
  REQUIRE(!web.ok());  // NoClientCert with client_ca_file: refused, as exporter-toolkit does
  std::ofstream(pki.path("web2.yml"))
      << "basic_auth_users:\n  prometheus: " << prometheus_hash() << "\n";
  web = load_web_setup(pki.path("web2.yml"));
  REQUIRE(web.ok());
  e->update_auth(&*web);
  CHECK(curl(pki, port, "client").status == 401);
  CHECK(curl(pki, port, "client", kRightPassword).status == 200);
  CHECK(curl(pki, port, "rogue-client", kRightPassword).status == 403);  // TLS policy kept
  e->update_auth(nullptr);
  CHECK(curl(pki, port, "client").status == 200);
  CHECK(curl(pki, port, "rogue-client").status == 403);
  CHECK(e->bcrypt_checks() == 1);
}
