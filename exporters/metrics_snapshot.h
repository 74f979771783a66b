// SPDX-License-Identifier: Apache-2.0
// What /metrics shows, copied from the event-loop thread so scrapes (on the
// HTTP server's threads) never touch the engine or the detectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detect/baseline.h"
#include "detect/target_snapshot.h"
#include "exporters/alerts.h"
#include "kernel/bpf_engine.h"

namespace sanwatch {

// The evidence ledger's writer, when enabled.
struct LedgerStatus {
  bool enabled = false, open = false, on_watched_device = false;
  std::uint64_t rows = 0, dropped = 0, write_errors = 0, queued = 0;
  double head_timestamp_s = 0, writer_cpu_s = 0;
};

struct MetricsSnapshot {
  std::string version, kernel;
  bool device_histograms = true;
  std::vector<TargetSnapshot> targets;
  EngineCounters engine;
  std::vector<ProgramStats> programs;
  bool bpf_stats_enabled = false;
  std::vector<SinkStats> sinks;
  std::uint64_t uevents_dropped = 0;
  LedgerStatus ledger;
  std::vector<BaselineStatus> baseline;  // LUNs the baseline tracks (empty when off)
};

}  // namespace sanwatch
