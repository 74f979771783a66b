// SPDX-License-Identifier: Apache-2.0
// `sanwatch hist` output: one report per interval, rendered as text bars or
// as one JSON object. Pure functions of the collected numbers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"  // human_duration
#include "kernel/io_stats.h"

namespace sanwatch {

struct HistEntry {
  std::string device;            // kernel name of the whole disk
  std::string partition;         // set when the user named a partition of it
  std::string dm_name;           // device-mapper name, if any
  std::string op;                // read, write, flush, discard, other, all
  OpStats stats;                 // this interval only
  double inflight_oldest_s = 0;  // age of the oldest outstanding I/O now, 0 if none
  // The age is a lower bound: I/O from before tracing began whose start the
  // kernel does not give (bio-based queues); `preexisting` of it may be left.
  bool inflight_at_least = false;
  unsigned preexisting = 0;
  unsigned outstanding_at_start = 0;  // found (or counted) when tracing began
};

// What tracing found already outstanding on one device when it began.
struct StartOutstanding {
  std::string device;
  unsigned count = 0;          // requests found or counted
  double oldest_s = 0;         // age of the oldest, 0 when none or unknown
  bool age_known = true;       // false: counted from sysfs, age >= time since start
  std::string why_not_walked;  // when counted rather than found
};
std::string start_outstanding_text(const StartOutstanding& s);

struct HistReport {
  std::string time;          // RFC 3339 wall-clock time at the end of the interval
  double interval_s = 0;     // measured length of the interval
  bool device_time = false;  // issue->completion instead of allocation->completion
  std::vector<HistEntry> entries;
};

struct Summary {
  std::uint64_t count = 0;
  double iops = 0;
  double mean_s = 0, p50_s = 0, p90_s = 0, p99_s = 0, p999_s = 0, max_s = 0;
};
Summary summarize(const HistEntry& e, double interval_s, bool device_time);

nlohmann::json report_json(const HistReport& r);
std::string report_text(const HistReport& r);

}  // namespace sanwatch
