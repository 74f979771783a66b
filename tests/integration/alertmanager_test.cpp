// SPDX-License-Identifier: Apache-2.0
// `sanwatch run` pushing state changes to a real Alertmanager (Debian's
// prometheus-alertmanager, on a free loopback port) and running an exec
// hook, over a FaultDisk loop device.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "http_listener.h"
#include "privileged.h"
#include "process.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::ChildProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::FaultDisk;
using sanwatch::test::HttpListener;
using sanwatch::test::slurp;
using sanwatch::test::TempDir;

namespace {

constexpr const char* kAlertmanagerBin = "/usr/bin/prometheus-alertmanager";

// Alertmanager answers within milliseconds: poll every 50 ms.
template <typename Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout) {
  return sanwatch::test::eventually(p, timeout, 50ms);
}

// GET through the curl CLI; nullopt unless the answer is 2xx.
std::optional<std::string> http_get(const std::string& url) {
  auto r = sanwatch::test::run_command({"curl", "-sSf", "--max-time", "2", url}, 5s);
  if (!r.ok()) return std::nullopt;
  return r.out;
}

// prometheus-alertmanager with a null receiver, no clustering, storage in a
// temp dir. stop() and the destructor end it; start() again reuses the port.
class Alertmanager {
 public:
  Alertmanager() : port_(sanwatch::test::free_loopback_port()) {
    std::ofstream(dir_.path() + "/am.yml") << "route:\n  receiver: 'null'\n"
                                              "receivers:\n  - name: 'null'\n";
  }
  ~Alertmanager() { stop(); }

  void start() {
    if (access(kAlertmanagerBin, X_OK) != 0)
      throw std::runtime_error(std::string(kAlertmanagerBin) +
                               " missing: install prometheus-alertmanager "
                               "(packaging/install-deps.sh)");
    ChildProcess::Options o;
    o.stdout_path = o.stderr_path = dir_.path() + "/am.log";
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            kAlertmanagerBin, "--config.file=" + dir_.path() + "/am.yml",
            "--storage.path=" + dir_.path() + "/data",
            "--cluster.listen-address=", fmt::format("--web.listen-address=127.0.0.1:{}", port_)},
        o);
    if (!eventually([&] { return http_get(url() + "/-/ready").has_value(); }, 15s))
      throw std::runtime_error("alertmanager not ready: " + slurp(dir_.path() + "/am.log"));
  }
  void stop() {
    if (!proc_) return;
    proc_->send_signal(SIGTERM);
    proc_->wait(10s);
    proc_.reset();  // SIGKILLs it if it did not exit
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }

  // Alerts Alertmanager returns for the query ("" = its defaults).
  nlohmann::json alerts(const std::string& query = "") const {
    auto body = http_get(url() + "/api/v2/alerts" + query);
    return body ? nlohmann::json::parse(*body) : nlohmann::json::array();
  }
  std::optional<nlohmann::json> find(const std::string& name, const std::string& device,
                                     const std::string& query = "?active=true") const {
    for (const auto& a : alerts(query))
      if (a["labels"].value("alertname", "") == name && a["labels"].value("device", "") == device)
        return a;
    return std::nullopt;
  }

 private:
  TempDir dir_{"sanwatch-am"};
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

// Tracepoints only, short thresholds (copied from run_test's style).
std::string config_for(const FaultDisk& d, const std::string& alerts) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"200ms\"\n"
      "[thresholds]\nslow_io = \"20ms\"\nstall = \"500ms\"\nrecovery = \"1s\"\n"
      "slow_window = \"2s\"\n"
      "[canary]\ntargets = \"none\"\ndeadline = \"100ms\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\n"
      "[alerts]\ninstance = \"sanwatch-it\"\n{}\n[alerts.labels]\nenv = \"it\"\n",
      d.loop_name(), alerts);
}

// The agent's sanwatch_alert_sink_up for `url`, or -1 when not exported.
int sink_up(AgentProcess& agent, const std::string& url) {
  const auto text = http_get(agent.metrics_url());
  const std::string series = "sanwatch_alert_sink_up{sink=\"alertmanager:" + url + "\"} ";
  const auto p = text ? text->find("\n" + series) : std::string::npos;
  return p == std::string::npos ? -1 : std::stoi(text->substr(p + 1 + series.size()));
}

std::string alertmanager_urls(const std::vector<std::string>& urls) {
  return "alertmanager_urls = " + nlohmann::json(urls).dump();
}

// A reader thread whose pread hangs on the stalled disk until release.
struct BackgroundRead {
  std::thread t;
  explicit BackgroundRead(const std::string& dev)
      : t([dev] {
          DirectIo io(dev);
          io.read(0);
        }) {}
  ~BackgroundRead() {
    if (t.joinable()) t.join();
  }
};

// A log line containing needle, among the lines already read or the next ones.
bool logged(AgentProcess& agent, const std::string& needle, std::chrono::milliseconds timeout) {
  for (const auto& j : agent.events())
    if (j.contains("msg") && j["msg"].get<std::string>().find(needle) != std::string::npos)
      return true;
  return agent.wait_log(needle, timeout).has_value();
}

}  // namespace

TEST_CASE(
    "alertmanager: a stall fires SanwatchDeviceStalled with its labels, release resolves it") {
  sanwatch::test::require_privileged("alertmanager stall test");
  Alertmanager am;
  am.start();
  FaultDisk disk;
  AgentProcess agent(config_for(disk, alertmanager_urls({am.url()})));
  const std::string dev = disk.loop_name();
  // The start-up health check (GET /-/ready) got through.
  CHECK(eventually([&] { return sink_up(agent, am.url()) == 1; }, 5s));
  disk.stall();
  std::optional<nlohmann::json> alert;
  {
    BackgroundRead r(disk.loop_device());
    auto ev = agent.wait_state(dev, "stalled", 5s);
    REQUIRE(ev);
    REQUIRE(eventually([&] { return (alert = am.find("SanwatchDeviceStalled", dev)).has_value(); },
                       5s));
    disk.release();
  }
  INFO(alert->dump());
  const auto& labels = (*alert)["labels"];
  CHECK(labels["severity"] == "critical");
  CHECK(labels["instance"] == "sanwatch-it");
  CHECK(labels["env"] == "it");
  CHECK(labels["device"] == dev);
  CHECK((*alert)["status"]["state"] == "active");
  CHECK((*alert)["annotations"]["summary"].get<std::string>().find(dev + " on sanwatch-it") !=
        std::string::npos);
  CHECK(!(*alert)["annotations"]["reason"].get<std::string>().empty());
  REQUIRE(agent.wait_state(dev, "ok", 10s));
  // Resolved: endsAt in the past, so Alertmanager stops listing it as active
  // (v0.25 lists no alert whose endsAt has passed, whatever the filter).
  CHECK(eventually([&] { return !am.find("SanwatchDeviceStalled", dev).has_value(); }, 5s));
  CHECK_FALSE(am.find("SanwatchDeviceStalled", dev, ""));
  CHECK(agent.stop() == 0);
}

TEST_CASE("alertmanager: down during the stall, the alert arrives once it is back") {
  sanwatch::test::require_privileged("alertmanager outage test");
  Alertmanager am;
  am.start();
  FaultDisk disk;
  // resend is long: delivery must come from the retry queue.
  AgentProcess agent(config_for(disk, alertmanager_urls({am.url()}) + "\nresend = \"10m\""));
  const std::string dev = disk.loop_name();
  am.stop();
  disk.stall();
  {
    BackgroundRead r(disk.loop_device());
    REQUIRE(agent.wait_state(dev, "stalled", 5s));
    CHECK(logged(agent, "alertmanager unreachable", 5s));
    CHECK(eventually([&] { return sink_up(agent, am.url()) == 0; }, 3s));  // next snapshot
    std::this_thread::sleep_for(1s);                                       // a few failed retries
    am.start();
    CHECK(eventually([&] { return am.find("SanwatchDeviceStalled", dev).has_value(); }, 10s));
    CHECK(logged(agent, "alertmanager reachable again", 5s));
    disk.release();
  }
  REQUIRE(agent.wait_state(dev, "ok", 10s));
  CHECK(eventually([&] { return !am.find("SanwatchDeviceStalled", dev).has_value(); }, 5s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("alertmanager: the exec hook gets the event, a hanging hook is killed at its timeout") {
  sanwatch::test::require_privileged("exec hook test");
  TempDir dir{"sanwatch-am"};
  const std::string hook = dir.path() + "/hook.sh";
  std::ofstream(hook) << fmt::format(
      "#!/bin/sh\n"
      "cat > '{0}/'\"$SANWATCH_TO.json.tmp\"\n"
      "env | grep '^SANWATCH_' > '{0}/'\"$SANWATCH_TO.env\"\n"
      "mv '{0}/'\"$SANWATCH_TO.json.tmp\" '{0}/'\"$SANWATCH_TO.json\"\n"
      "if [ \"$SANWATCH_TO\" = ok ]; then echo $$ > '{0}/hang.pid'; exec sleep 60; fi\n",
      dir.path());
  REQUIRE(chmod(hook.c_str(), 0755) == 0);
  FaultDisk disk;
  AgentProcess agent(config_for(disk, fmt::format("exec = [\"{}\"]\nexec_timeout = \"1s\"", hook)));
  const std::string dev = disk.loop_name();
  disk.stall();
  std::optional<nlohmann::json> ev;
  {
    BackgroundRead r(disk.loop_device());
    ev = agent.wait_state(dev, "stalled", 5s);
    REQUIRE(ev);
    disk.release();
  }
  const std::string out = dir.path() + "/stalled.json";
  REQUIRE(eventually([&] { return std::filesystem::exists(out); }, 5s));
  CHECK(nlohmann::json::parse(slurp(out)) == *ev);
  const std::string env = slurp(dir.path() + "/stalled.env");
  CHECK(env.find("SANWATCH_TARGET=" + dev + "\n") != std::string::npos);
  CHECK(env.find("SANWATCH_TARGET_TYPE=device\n") != std::string::npos);
  CHECK(env.find("SANWATCH_TO=stalled\n") != std::string::npos);
  CHECK(env.find("SANWATCH_FROM=" + (*ev)["from"].get<std::string>() + "\n") != std::string::npos);
  CHECK(env.find("SANWATCH_EVENT_TS=" + (*ev)["ts"].get<std::string>() + "\n") !=
        std::string::npos);
  // Back to ok: that run hangs in sleep 60 and is killed 1 s later.
  REQUIRE(agent.wait_state(dev, "ok", 10s));
  const auto killed = agent.wait_log("exec hook killed at its timeout", 5s);
  REQUIRE(killed);
  const pid_t pid = std::stoi(slurp(dir.path() + "/hang.pid"));
  CHECK((*killed)["pid"] == pid);
  CHECK((*killed)["to"] == "ok");
  // Killed and reaped: not even a zombie is left.
  CHECK(eventually([&] { return kill(pid, 0) != 0 && errno == ESRCH; }, 3s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("alertmanager: state change to first byte of the POST, through the agent") {
  sanwatch::test::require_privileged("alert latency test");
  HttpListener rec;  // stands in for Alertmanager: records when each POST began to arrive
  FaultDisk disk;
  AgentProcess agent(config_for(disk, alertmanager_urls({rec.url()}) + "\nresend = \"10m\""));
  const std::string dev = disk.loop_name();
  for (int cycle = 0; cycle < 4; ++cycle) {
    disk.stall();
    {
      BackgroundRead r(disk.loop_device());
      REQUIRE(agent.wait_state(dev, "stalled", 5s));
      disk.release();
    }
    REQUIRE(agent.wait_state(dev, "ok", 10s));
  }
  std::this_thread::sleep_for(100ms);
  // Each state event's POST is the first request starting after it (events
  // are hundreds of ms apart; nothing is re-sent within 10m).
  std::vector<std::uint64_t> firsts;
  for (const auto& r : rec.requests()) firsts.push_back(r.first_byte_ns);
  std::sort(firsts.begin(), firsts.end());
  std::vector<double> ms;
  for (const auto& j : agent.states(dev)) {
    const auto at = j["mono_ns"].get<std::uint64_t>();
    const auto it = std::lower_bound(firsts.begin(), firsts.end(), at);
    REQUIRE(it != firsts.end());
    ms.push_back(static_cast<double>(*it - at) / 1e6);
  }
  REQUIRE(ms.size() >= 10);
  const double first = ms.front();  // pays the TCP connect
  std::sort(ms.begin() + 1, ms.end());
  WARN("agent: state change -> first byte of POST (ms): first (new connection) "
       << first << ", then n=" << ms.size() - 1 << " p50 " << ms[ms.size() / 2] << " max "
       << ms.back());
  CHECK(ms.back() < 1000);
  CHECK(agent.stop() == 0);
}
