// SPDX-License-Identifier: Apache-2.0
// What /metrics shows, copied from the event-loop thread so scrapes (on the
// HTTP server's threads) never touch the engine or the detectors.
#pragma once

#include <cstdint>
#include <map>
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
  SlotUsage slots;
  std::vector<ProgramStats> programs;
  bool bpf_stats_enabled = false;
  std::vector<SinkStats> sinks;
  std::uint64_t uevents_dropped = 0;
  std::uint64_t uevents_received = 0;  // datagrams read, accepted or dropped
  std::uint64_t uevent_overflows = 0;  // ENOBUFS: the kernel dropped uevents meant for us
  std::map<std::string, std::uint64_t> uevents_dropped_by_reason;  // every reason, 0 included
  LedgerStatus ledger;
  std::vector<BaselineStatus> baseline;  // LUNs the baseline tracks (empty when off)
};

// The metrics server's own counters, read at render time (not from the
// event loop).
struct HttpStats {
  std::uint64_t open = 0;  // connections open now
  std::uint64_t refused_max_connections = 0, refused_per_ip = 0;
  std::map<unsigned, std::uint64_t> requests;  // answered requests by HTTP status
};

struct ServerStats {
  double last_scrape_s = 0;  // the previous render's duration
  std::uint64_t renders = 0;
  HttpStats http;
};

}  // namespace sanwatch
