// SPDX-License-Identifier: Apache-2.0
// metrics.web_config through the binary: check-config loads the web.yml
// and the files it names (a broken one is exit 2 with file and line, like a
// broken sanwatch.toml), prints what it set up, and warns on stderr about
// an open endpoint without failing; SIGHUP applies changed users at once,
// validates changed TLS settings for the next restart (and says so), and
// rejects a broken web.yml. The scrapes
// themselves are tested in tests/unit/metrics_tls_test.cpp and, with a
// real Prometheus, in prometheus_test.cpp.
#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "agent_process.h"
#include "fault_disk.h"
#include "privileged.h"
#include "process.h"
#include "test_pki.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::run_command;
using sanwatch::test::TestPki;

namespace {

// check-config on a sanwatch.toml with `metrics` lines, written next to the PKI.
sanwatch::test::CommandResult check_config(const TestPki& pki, const std::string& metrics) {
  const std::string path = pki.path("sanwatch.toml");
  std::ofstream(path) << "[metrics]\n" << metrics;
  return run_command({SANWATCH_BIN, "check-config", path}, 10s);
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string tls_yml(const std::string& key = "server.key") {
  return "tls_server_config:\n  cert_file: server.pem\n  key_file: " + key +
         "\n  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n";
}

}  // namespace

TEST_CASE("run: check-config loads metrics.web_config, refuses a broken one, warns when open") {
  TestPki pki;
  const std::string web = pki.path("web.yml");
  write(web,
        tls_yml() + "basic_auth_users:\n  prometheus: " + sanwatch::test::bcrypt_hash("pw") + "\n");
  auto good =
      check_config(pki, fmt::format("listen = \"0.0.0.0:9847\"\nweb_config = \"{}\"\n", web));
  INFO(good.err);
  CHECK(good.exit_code == 0);
  CHECK(good.out.find(fmt::format("web_config = '{}'\n", web)) != std::string::npos);
  CHECK(good.out.find("# metrics.web_config: TLS (TLS12+, client certificates: "
                      "RequireAndVerifyClientCert), basic auth for 1 user\n") != std::string::npos);
  CHECK(good.err.empty());

  // Open to the network without TLS or auth: valid, with a warning.
  auto open = check_config(pki, "listen = \"0.0.0.0:9847\"\n");
  CHECK(open.exit_code == 0);
  CHECK(open.err.starts_with("warning: metrics.listen = \"0.0.0.0:9847\" is reachable beyond"));
  auto local = check_config(pki, "listen = \"127.0.0.1:9847\"\n");
  CHECK(local.exit_code == 0);
  CHECK(local.err.empty());
  write(web, "http_server_config:\n  http2: true\n");
  auto ignored =
      check_config(pki, fmt::format("listen = \"[::1]:9847\"\nweb_config = \"{}\"\n", web));
  CHECK(ignored.exit_code == 0);
  CHECK(ignored.err == web +
                           ":2:10: warning: http_server_config.http2 is ignored: the server "
                           "speaks HTTP/1.1 (all Prometheus needs)\n");

  // Broken: a YAML error, an unknown key, a key that is not the certificate's.
  const std::string toml = pki.path("sanwatch.toml");
  for (const auto& [yml, want] :
       {std::pair{std::string("tls_server_config:\n  cert_file: [\n"), web + ":3:1: "},
        std::pair{std::string("tls_server_config:\n  certfile: a\n"),
                  web + ":2:3: tls_server_config.certfile: unknown key"},
        std::pair{tls_yml("client.key"), web + ": tls_server_config: cert_file " +
                                             pki.path("server.pem") + " with key_file " +
                                             pki.path("client.key") + ": "}}) {
    write(web, yml);
    auto bad = check_config(pki, fmt::format("web_config = \"{}\"\n", web));
    INFO(yml << "\n" << bad.err);
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.starts_with(toml + ": metrics.web_config: " + want));
  }
  std::remove(web.c_str());
  auto missing = check_config(pki, fmt::format("web_config = \"{}\"\n", web));
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("metrics.web_config: cannot read " + web + ": No such file") !=
        std::string::npos);
}

TEST_CASE(
    "run: SIGHUP applies web.yml users at once, TLS changes at restart, rejects a broken one") {
  sanwatch::test::require_privileged("run web_config reload test");
  TestPki pki;
  FaultDisk disk;
  const std::string web = pki.path("web.yml");
  write(web, tls_yml());
  const std::string config = fmt::format(
      "[devices]\ninclude = [\"{}\"]\n[canary]\ntargets = \"none\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\nweb_config = \"{}\"\n",
      disk.loop_name(), web);
  AgentProcess agent(config);
  auto scrape = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"curl",
                                     "-s",
                                     "-o",
                                     "/dev/null",
                                     "-w",
                                     "%{http_code}",
                                     "--cacert",
                                     pki.path("ca.pem"),
                                     "--cert",
                                     pki.path("client.pem"),
                                     "--key",
                                     pki.path("client.key"),
                                     "https://" + agent.metrics_address() + "/metrics"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, 10s).out;
  };
  const std::vector<std::string> password = {"-u", "prometheus:pw"};
  CHECK(scrape() == "200");

  // New users: applied without a restart.
  const std::string users =
      "basic_auth_users:\n  prometheus: " + sanwatch::test::bcrypt_hash("pw") + "\n";
  write(web, tls_yml() + users);
  agent.process().send_signal(SIGHUP);
  auto applied = agent.wait_log("basic_auth_users and headers applied", 5s);
  REQUIRE(applied);
  CHECK((*applied)["users"] == 1);
  CHECK(agent.wait_log("configuration reloaded", 5s));
  CHECK(scrape() == "401");
  CHECK(scrape(password) == "200");

  // New TLS settings: validated, the running ones stay until a restart.
  write(web, tls_yml() + "  min_version: TLS13\n" + users);
  agent.process().send_signal(SIGHUP);
  auto tls = agent.wait_log("tls_server_config changed", 5s);
  REQUIRE(tls);
  CHECK((*tls)["msg"].get<std::string>().find("applied at the next restart") != std::string::npos);
  CHECK((*tls)["new"] ==
        "TLS (TLS13+, client certificates: RequireAndVerifyClientCert), basic auth for 1 user");
  CHECK(agent.wait_log("configuration reloaded", 5s));
  std::vector<std::string> tls12 = {"--tlsv1.2", "--tls-max", "1.2"};
  tls12.insert(tls12.end(), password.begin(), password.end());
  CHECK(scrape(tls12) == "200");

  // Broken: rejected with its line; everything stays.
  write(web, "tls_server_config: [\n");
  agent.process().send_signal(SIGHUP);
  auto rejected = agent.wait_log("configuration rejected", 5s);
  REQUIRE(rejected);
  CHECK((*rejected)["errors"].get<std::string>().find(web + ":2:1: ") != std::string::npos);
  CHECK(scrape(password) == "200");
  CHECK(scrape() == "401");
  CHECK(agent.stop() == 0);
}
