// Prometheus /metrics (prometheus-cpp pull exposer). A custom Collectable
// renders the latest MetricsSnapshot at scrape time; the event loop
// publishes snapshots and state changes.
#pragma once

#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>

#include "metrics_snapshot.h"
#include "result.h"

namespace prometheus {
class Exposer;
}

namespace sanwatch {

class SnapshotCollector;

class MetricsExporter {
 public:
  // Listens on host:port (port 0: any free port). Fails with a clear error
  // when the address cannot be bound.
  static Result<std::unique_ptr<MetricsExporter>> start(const std::string& listen);
  ~MetricsExporter();

  void publish(MetricsSnapshot s);
  // Immediate state update between snapshots.
  void set_state(const std::string& target, const std::string& state);
  int port() const { return port_; }

 private:
  MetricsExporter() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<SnapshotCollector> collector_;
  std::string listen_;
  int port_ = 0;
};

// The metric families for a snapshot at monotonic time `now` (pure).
std::vector<prometheus::MetricFamily> render_families(const MetricsSnapshot& s, std::uint64_t now,
                                                      double last_scrape_s = 0);

// Classic bucket bounds (seconds) for every latency histogram.
const std::vector<double>& latency_bucket_bounds();

}  // namespace sanwatch
