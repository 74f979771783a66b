// SPDX-License-Identifier: Apache-2.0
// A real Prometheus (Debian's /usr/bin/prometheus) on a free loopback
// port, scraping the given targets as job "sanwatch" every second (and
// evaluating a rules file every second, if given), with storage in a temp dir; stopped (SIGTERM,
// then SIGKILL) and cleaned up by the destructor. The binary is SANWATCH_PROMETHEUS_BIN.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "process.h"
#include "test_util.h"

namespace sanwatch::test {

class PrometheusServer {
 public:
  // Throws std::runtime_error with Prometheus's log when it does not
  // become ready. `rules_file`: loaded and evaluated every second if given.
  explicit PrometheusServer(const std::vector<std::string>& targets,
                            const std::string& rules_file = "");
  // Scrape configs as given: the YAML list that goes under scrape_configs:
  // (items indented two spaces, "  - job_name: ..."), e.g. with scheme,
  // tls_config and basic_auth.
  struct ScrapeConfigs {
    std::string yaml;
  };
  explicit PrometheusServer(const ScrapeConfigs& scrape);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::string url() const;
  std::string log() const;
  // GET an API path; the "data" of the answer if Prometheus said "success".
  std::optional<nlohmann::json> api(const std::string& path,
                                    const std::vector<std::string>& params = {});
  // Instant query: the result vector (empty on error).
  nlohmann::json query(const std::string& promql);
  // Active alerts named `name` whose labels include `labels`.
  std::vector<nlohmann::json> alerts(const std::string& name, const nlohmann::json& labels);

 private:
  void start(const std::string& config_yaml);
  bool ready();
  void stop();

  TempDir dir_{"sanwatch-prom"};  // declared first: removed after the process is gone
  int port_ = 0;
  std::string log_;
  std::unique_ptr<ChildProcess> proc_;
};

}  // namespace sanwatch::test
