// SPDX-License-Identifier: Apache-2.0
// `sanwatch paths`: multipath topology with per-path state and latency, like
// `multipathd show topology`. The model and its rendering are pure.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "host/topology.h"
#include "kernel/io_stats.h"

namespace sanwatch {

struct PathRow {
  PathInfo info;
  std::string dm_state;  // "active", "failed", "" when dm has not said
  unsigned fail_count = 0;
  unsigned dm_group = 0;  // its priority group in the map, 1-based; 0 unknown
  std::string state;      // health state (from the agent, or derived)
  std::string since;      // RFC 3339 time of the last transition, "" if unknown
  OpStats io;             // the measured interval, all operations
};

struct MapRow {
  MapInfo info;
  std::string array;   // from its paths
  std::string serial;  // the LUN's serial number, from its paths
  std::string state;
  std::string since;
  int valid_paths = -1, total_paths = -1;
  bool queue_if_no_path = false;
  bool queueing = false;      // dm holds I/O right now
  unsigned active_group = 0;  // the priority group carrying I/O, 1-based; 0 unknown
  OpStats io;
  std::vector<PathRow> paths;
};

struct PathsReport {
  std::string time;
  double interval_s = 0;
  std::string state_source;  // "agent at <url>" or "derived (no agent)"
  std::vector<MapRow> maps;
};

nlohmann::ordered_json paths_json(const PathsReport& r);
std::string paths_text(const PathsReport& r);

// Without the agent: failed when dm or the SCSI layer says so, else ok.
std::string derived_path_state(const PathRow& p);
std::string derived_map_state(const MapRow& m);

}  // namespace sanwatch
