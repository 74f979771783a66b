// SPDX-License-Identifier: Apache-2.0
// Prometheus /metrics: a civetweb server whose handler renders the latest
// MetricsSnapshot at scrape time (exposition.h writes the text, gzip when
// the scraper accepts it); the event loop publishes snapshots and state
// changes without waiting for a scrape in progress.
#pragma once

#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "exporters/metrics_snapshot.h"

struct mg_context;

namespace sanwatch {

class SnapshotCollector;

class MetricsExporter {
 public:
  // Listens on host:port (port 0: any free port). Fails with a clear error
  // when the address cannot be bound.
  static Result<std::unique_ptr<MetricsExporter>> start(const std::string& listen);
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  void publish(MetricsSnapshot s);
  // Immediate state update between snapshots.
  void set_state(const std::string& target, const std::string& state);
  int port() const { return port_; }

 private:
  MetricsExporter() = default;
  std::unique_ptr<SnapshotCollector> collector_;
  mg_context* server_ = nullptr;
  std::string listen_;
  int port_ = 0;
};

// The metric families for a snapshot at monotonic time `now` (pure).
std::vector<prometheus::MetricFamily> render_families(const MetricsSnapshot& s, std::uint64_t now,
                                                      double last_scrape_s = 0);

// Classic bucket bounds (seconds) for every latency histogram.
const std::vector<double>& latency_bucket_bounds();

}  // namespace sanwatch
