// What /metrics shows, copied from the event-loop thread so scrapes (on the
// HTTP server's threads) never touch the engine or the detectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detect/target_snapshot.h"
#include "exporters/alerts.h"
#include "kernel/bpf_engine.h"

namespace sanwatch {

struct MetricsSnapshot {
  std::string version, kernel;
  bool device_histograms = true;
  std::vector<TargetSnapshot> targets;
  EngineCounters engine;
  std::vector<ProgramStats> programs;
  bool bpf_stats_enabled = false;
  std::vector<SinkStats> sinks;
  std::uint64_t uevents_dropped = 0;
};

}  // namespace sanwatch
