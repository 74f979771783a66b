// SPDX-License-Identifier: Apache-2.0
// A real Prometheus (Debian's /usr/bin/prometheus, on a free loopback port)
// scraping `sanwatch run` over a FaultDisk loop device every second, with
// packaging/prometheus/sanwatch.rules.yml loaded and evaluated every second.
// Also `promtool check metrics` on a real scrape, and a Prometheus scraping
// over TLS with a client certificate and basic auth (metrics.web_config).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "privileged.h"
#include "process.h"
#include "prometheus_server.h"
#include "test_pki.h"
#include "test_util.h"

using namespace std::chrono_literals;
using nlohmann::json;
using sanwatch::test::AgentProcess;
using sanwatch::test::CommandResult;
using sanwatch::test::DirectIo;
using sanwatch::test::eventually;
using sanwatch::test::FaultDisk;
using sanwatch::test::PrometheusServer;
using sanwatch::test::run_command;
using sanwatch::test::slurp;
using sanwatch::test::TempDir;
using sanwatch::test::TestPki;

namespace {

// GET url (with --data-urlencode parameters, if any) through curl.
CommandResult http_get(const std::string& url, const std::vector<std::string>& params = {}) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "5", "-G", url};
  for (const auto& p : params) {
    argv.push_back("--data-urlencode");
    argv.push_back(p);
  }
  return run_command(argv, 10s);
}

// Tracepoints plus canaries on the loop device, short thresholds; metrics on
// an ephemeral loopback port.
std::string agent_config(const FaultDisk& d) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"200ms\"\n"
      "[thresholds]\nslow_io = \"200ms\"\nstall = \"500ms\"\nrecovery = \"1s\"\n"
      "slow_window = \"2s\"\n"
      "[canary]\ntargets = \"all\"\nperiod = \"200ms\"\ndeadline = \"400ms\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"200ms\"\n",
      d.loop_name());
}

// A fault disk, the agent watching it and a Prometheus that scrapes the
// agent, up (both Prometheus tests start this way).
struct ScrapedAgent {
  FaultDisk disk;
  AgentProcess agent{agent_config(disk)};
  PrometheusServer prom{{agent.metrics_address()}, SANWATCH_PROMETHEUS_RULES};
  ScrapedAgent() {
    INFO("prometheus log:\n" << prom.log());
    REQUIRE(eventually([&] { return !prom.query("up{job=\"sanwatch\"} == 1").empty(); }, 20s));
  }
};

// O_DIRECT reads (and a few writes) on a device until destroyed.
class IoLoad {
 public:
  explicit IoLoad(const std::string& dev)
      : t_([this, dev] {
          DirectIo io(dev);
          for (std::uint64_t i = 0; !stop_; ++i) {
            io.read((i % 1024) * 4096);
            if (i % 8 == 0) io.write((i % 1024) * 4096);
            std::this_thread::sleep_for(2ms);
          }
        }) {}
  ~IoLoad() {
    stop_ = true;
    t_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread t_;
};

// Stalls the disk and starts a reader whose pread hangs on it. The
// destructor releases the disk before joining the reader, also when a
// REQUIRE throws in between.
class StalledReader {
 public:
  explicit StalledReader(FaultDisk& disk) : disk_(disk) {
    disk_.stall();
    reader_ = std::thread([dev = disk.loop_device()] {
      DirectIo io(dev);
      io.read(0);
    });
  }
  ~StalledReader() {
    try {
      disk_.release();
    } catch (...) {
    }
    reader_.join();
  }
  StalledReader(const StalledReader&) = delete;
  StalledReader& operator=(const StalledReader&) = delete;

 private:
  FaultDisk& disk_;
  std::thread reader_;
};

double sample_value(const json& sample) { return std::stod(sample["value"][1].get<std::string>()); }

}  // namespace

TEST_CASE("prometheus: promtool check metrics is clean on a real scrape of the agent") {
  sanwatch::test::require_privileged("promtool check metrics test");
  FaultDisk disk;
  AgentProcess agent(agent_config(disk));
  const std::string url = agent.metrics_url();
  {
    // Reads and writes, so op-labelled counters and histograms exist.
    DirectIo io(disk.loop_device());
    for (int i = 0; i < 64; ++i) {
      REQUIRE(io.read(i * 4096) == 4096);
      REQUIRE(io.write(i * 4096) == 4096);
    }
  }
  std::string scrape;
  const std::string want = fmt::format(
      "sanwatch_io_latency_seconds_bucket{{device=\"{}\",op=\"write\"", disk.loop_name());
  REQUIRE(eventually(
      [&] {
        auto r = http_get(url);
        scrape = r.out;
        return r.ok() && scrape.find(want) != std::string::npos &&
               scrape.find("sanwatch_canary_latency_seconds_bucket") != std::string::npos;
      },
      10s));
  INFO(scrape);

  TempDir dir{"sanwatch-prom"};
  const std::string file = dir.path() + "/metrics.txt";
  std::ofstream(file) << scrape;
  auto r = run_command(
      {"sh", "-c", "exec \"$0\" check metrics < \"$1\"", SANWATCH_PROMTOOL_BIN, file}, 30s);
  INFO("promtool stdout: " << r.out << "\npromtool stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  // Every sanwatch family carries HELP and TYPE (promtool checks that too,
  // but only for what is there: make sure the main families are).
  for (const char* family : {"sanwatch_build_info", "sanwatch_device_info", "sanwatch_state",
                             "sanwatch_io_completed_total", "sanwatch_io_latency_seconds",
                             "sanwatch_inflight_oldest_seconds", "sanwatch_canary_reads_total"})
    CHECK(scrape.find(fmt::format("# TYPE {} ", family)) != std::string::npos);
  CHECK(agent.stop() == 0);
}

TEST_CASE("prometheus: a real Prometheus scrapes the agent and sees the loop device's I/O rate") {
  sanwatch::test::require_privileged("prometheus scrape test");
  ScrapedAgent scraped;
  auto& [disk, agent, prom] = scraped;
  INFO("prometheus log:\n" << prom.log());
  const std::string dev = disk.loop_name();
  {
    IoLoad load(disk.loop_device());
    json rate;
    const std::string q = fmt::format(
        "rate(sanwatch_io_completed_total{{job=\"sanwatch\",device=\"{}\",op=\"read\"}}[5s])", dev);
    REQUIRE(eventually(
        [&] {
          rate = prom.query(q);
          return rate.size() == 1 && sample_value(rate[0]) > 0;
        },
        20s));
    INFO(rate.dump());
    CHECK(rate[0]["metric"]["instance"] == agent.metrics_address());
    WARN("rate(sanwatch_io_completed_total[5s]) for " << dev << ": " << sample_value(rate[0])
                                                      << " reads/s");
  }
  // The sanwatch series are there, with the labels the rules rely on.
  CHECK(prom.query(fmt::format("sanwatch_device_info{{device=\"{}\",target_type=\"device\"}}", dev))
            .size() == 1);
  CHECK(prom.query(fmt::format("sanwatch_state{{target=\"{}\",state=\"ok\"}} == 1", dev)).size() ==
        1);
  CHECK(prom.query("sanwatch_build_info").size() == 1);
  CHECK(!prom.query(fmt::format("sanwatch_io_latency_seconds_bucket{{device=\"{}\",le=\"+Inf\"}}",
                                dev))
             .empty());
  CHECK(!prom.query(fmt::format("sanwatch_canary_reads_total{{target=\"{}\"}} > 0", dev)).empty());

  // The rules are loaded, and none fails to evaluate on real data (e.g. a
  // many-to-many join). Recording rules produced a series for the device.
  REQUIRE(eventually([&] { return !prom.query("device:sanwatch_io_rw:rate5m").empty(); }, 15s));
  auto rules = prom.api("/api/v1/rules");
  REQUIRE(rules);
  std::set<std::string> alerts;
  int evaluated = 0;
  for (const auto& g : (*rules)["groups"])
    for (const auto& r : g["rules"]) {
      INFO(r.dump());
      CHECK(r.value("health", "") != "err");
      evaluated += r.value("health", "") == "ok";
      if (r.value("type", "") == "alerting") alerts.insert(r["name"].get<std::string>());
    }
  CHECK(evaluated > 0);
  for (const char* a : {"SanwatchDeviceStalled", "SanwatchDeviceSlow", "SanwatchPathFailed",
                        "SanwatchPathFlapping", "SanwatchMapDegraded", "SanwatchMapDown",
                        "SanwatchCanaryTimeouts", "SanwatchAgentDown", "SanwatchArrayPortDegraded"})
    CHECK(alerts.count(a) == 1);
  // A healthy device: nothing of ours is firing.
  CHECK(prom.query("ALERTS{alertstate=\"firing\",alertname=~\"Sanwatch.*\"}").empty());
  CHECK(agent.stop() == 0);
}

TEST_CASE("prometheus: a stalled loop device fires SanwatchDeviceStalled from the rules file") {
  sanwatch::test::require_privileged("prometheus stall alert test");
  ScrapedAgent scraped;
  auto& [disk, agent, prom] = scraped;
  INFO("prometheus log:\n" << prom.log());

  const std::string dev = disk.loop_name();
  const json labels = {{"target", dev}};
  CHECK(prom.alerts("SanwatchDeviceStalled", labels).empty());
  {
    StalledReader stall(disk);
    REQUIRE(agent.wait_state(dev, "stalled", 10s));
    const auto t0 = std::chrono::steady_clock::now();
    // The rule's for: 10s plus a scrape and an evaluation (1 s each).
    std::vector<json> firing;
    REQUIRE(eventually(
        [&] {
          firing.clear();
          for (auto& a : prom.alerts("SanwatchDeviceStalled", labels))
            if (a.value("state", "") == "firing") firing.push_back(a);
          return !firing.empty();
        },
        30s));
    const double after =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WARN("SanwatchDeviceStalled firing " << after << " s after the agent's stalled event");
    REQUIRE(firing.size() == 1);
    const json& a = firing[0];
    INFO(a.dump());
    CHECK(a["labels"]["severity"] == "critical");
    CHECK(a["labels"]["target_type"] == "device");
    CHECK(a["labels"]["state"] == "stalled");
    CHECK(a["labels"]["job"] == "sanwatch");
    CHECK(a["annotations"]["summary"] ==
          fmt::format("I/O stalled on {} ({})", dev, agent.metrics_address()));
    CHECK(after >= 9.0);  // the for: duration was honoured
    // The same through the ALERTS series.
    CHECK(
        prom
            .query(fmt::format(
                "ALERTS{{alertname=\"SanwatchDeviceStalled\",alertstate=\"firing\",target=\"{}\"}}",
                dev))
            .size() == 1);
  }  // releases the disk
  // Released: the agent recovers (recovery 1 s) and the alert resolves.
  REQUIRE(agent.wait_state(dev, "ok", 10s));
  CHECK(eventually([&] { return prom.alerts("SanwatchDeviceStalled", labels).empty(); }, 15s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("prometheus: scrapes over TLS with a client certificate and basic auth") {
  sanwatch::test::require_privileged("prometheus TLS scrape test");
  TestPki pki;
  std::ofstream(pki.path("web.yml")) << fmt::format(
      "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
      "  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n"
      "basic_auth_users:\n  prometheus: {}\n",
      sanwatch::test::bcrypt_hash("scrape-me"));
  FaultDisk disk;
  AgentProcess agent(agent_config(disk) +
                     fmt::format("web_config = \"{}\"\n", pki.path("web.yml")));
  auto job = [&](const std::string& name, const std::string& password) {
    return fmt::format(
        "  - job_name: {}\n    scheme: https\n"
        "    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n"
        "    basic_auth:\n      username: prometheus\n      password: {}\n"
        "    static_configs:\n      - targets: [\"{}\"]\n",
        name, pki.path("ca.pem"), pki.path("client.pem"), pki.path("client.key"), password,
        agent.metrics_address());
  };
  PrometheusServer prom(PrometheusServer::ScrapeConfigs{job("sanwatch-tls", "scrape-me") +
                                                        job("wrong-password", "nope")});
  INFO("prometheus log:\n" << prom.log());
  REQUIRE(eventually([&] { return !prom.query("up{job=\"sanwatch-tls\"} == 1").empty(); }, 20s));
  CHECK(prom.query("sanwatch_build_info{job=\"sanwatch-tls\"}").size() == 1);
  CHECK(!prom.query(fmt::format("sanwatch_device_info{{job=\"sanwatch-tls\",device=\"{}\"}}",
                                disk.loop_name()))
             .empty());
  // The other job: down, refused with 401 (Prometheus's lastError).
  json target;
  REQUIRE(eventually(
      [&] {
        auto d = prom.api("/api/v1/targets");
        if (!d) return false;
        for (const auto& t : (*d)["activeTargets"])
          if (t["labels"].value("job", "") == "wrong-password") target = t;
        return target.value("health", "") == "down" &&
               target.value("lastError", "").find("401") != std::string::npos;
      },
      20s));
  INFO(target.dump());
  CHECK(target["scrapeUrl"].get<std::string>().starts_with("https://"));
  CHECK(prom.query("up{job=\"wrong-password\"} == 0").size() == 1);
  CHECK(agent.stop() == 0);
}
