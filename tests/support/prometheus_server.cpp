// SPDX-License-Identifier: Apache-2.0
#include "prometheus_server.h"

#include <fmt/format.h>
#include <signal.h>

#include <fstream>
#include <stdexcept>

namespace sanwatch::test {
namespace {

using namespace std::chrono_literals;

// GET url with --data-urlencode parameters, through curl.
CommandResult http_get(const std::string& url, const std::vector<std::string>& params) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "5", "-G", url};
  for (const auto& p : params) {
    argv.push_back("--data-urlencode");
    argv.push_back(p);
  }
  return run_command(argv, 10s);
}

}  // namespace

namespace {
constexpr const char* kGlobal =
    "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n";
}  // namespace

PrometheusServer::PrometheusServer(const std::vector<std::string>& targets,
                                   const std::string& rules_file) {
  std::string list;
  for (const auto& t : targets) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", t);
  start(fmt::format(
      "{}{}scrape_configs:\n  - job_name: sanwatch\n    static_configs:\n"
      "      - targets: [{}]\n",
      kGlobal, rules_file.empty() ? "" : fmt::format("rule_files:\n  - \"{}\"\n", rules_file),
      list));
}

PrometheusServer::PrometheusServer(const ScrapeConfigs& scrape) {
  start(fmt::format("{}scrape_configs:\n{}", kGlobal, scrape.yaml));
}

void PrometheusServer::start(const std::string& config_yaml) {
  const std::string config = dir_.path() + "/prometheus.yml";
  std::ofstream(config) << config_yaml;
  // The port can be taken between free_loopback_port() and the bind.
  for (int attempt = 1;; ++attempt) {
    port_ = free_loopback_port();
    log_ = fmt::format("{}/prometheus-{}.log", dir_.path(), attempt);
    ChildProcess::Options o;
    o.stdout_path = log_;
    o.stderr_path = log_;
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{SANWATCH_PROMETHEUS_BIN, "--config.file=" + config,
                                 "--storage.tsdb.path=" + dir_.path() + "/data",
                                 fmt::format("--web.listen-address=127.0.0.1:{}", port_)},
        o);
    if (eventually([&] { return ready() || !proc_->running(); }, 30s) && ready()) return;
    const bool bind_race = slurp(log_).find("address already in use") != std::string::npos;
    stop();
    if (!bind_race || attempt == 3)
      throw std::runtime_error("prometheus did not become ready: " + slurp(log_));
  }
}

PrometheusServer::~PrometheusServer() { stop(); }

std::string PrometheusServer::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

std::string PrometheusServer::log() const { return slurp(log_); }

std::optional<nlohmann::json> PrometheusServer::api(const std::string& path,
                                                    const std::vector<std::string>& params) {
  auto r = http_get(url() + path, params);
  if (!r.ok()) return std::nullopt;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return std::nullopt;
  return j["data"];
}

nlohmann::json PrometheusServer::query(const std::string& promql) {
  auto d = api("/api/v1/query", {"query=" + promql});
  return d && d->contains("result") ? (*d)["result"] : nlohmann::json::array();
}

std::vector<nlohmann::json> PrometheusServer::alerts(const std::string& name,
                                                     const nlohmann::json& labels) {
  std::vector<nlohmann::json> out;
  auto d = api("/api/v1/alerts");
  if (!d) return out;
  for (const auto& a : (*d)["alerts"]) {
    if (a["labels"].value("alertname", "") != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels.items()) match = match && a["labels"].value(k, "") == v;
    if (match) out.push_back(a);
  }
  return out;
}

bool PrometheusServer::ready() {
  auto r = run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                        url() + "/-/ready"},
                       5s);
  return r.ok() && r.out == "200";
}

void PrometheusServer::stop() {
  if (!proc_) return;
  if (proc_->running()) {
    proc_->send_signal(SIGTERM);
    proc_->wait(10s);
  }
  proc_.reset();  // SIGKILLs the process group if still running
}

}  // namespace sanwatch::test
