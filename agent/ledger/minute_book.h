// SPDX-License-Identifier: Apache-2.0
// Per-target minute rollups: seconds in each state, seconds impaired, I/O
// and canary counts, I/Os over each latency SLO threshold, the latency
// histogram of the minute's I/O. A minute is
// written `lag` after it ends, once the impairment that began in it is
// known (a stall is recognised only when it crosses its threshold).
// Pure: wall-clock milliseconds in, rows out.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detect/detector.h"
#include "kernel/histogram.h"

namespace sanwatch {

// Cumulative counters of one target, as the engine and the prober count.
struct TargetCounters {
  std::uint64_t ios = 0;
  std::vector<std::uint64_t> slo_over;  // per configured threshold
  std::uint64_t canary_probes = 0, canary_failures = 0;
  LatencyHistogram lat;  // total latency of every op; empty for targets without histograms
};

// A wall-clock interval in ms, [start, end).
struct WallSpan {
  std::int64_t start = 0, end = 0;
};

class MinuteBook {
 public:
  static constexpr std::int64_t kMinute = 60'000;
  explicit MinuteBook(std::vector<std::uint64_t> slo_ns) : slo_ns_(std::move(slo_ns)) {}

  void begin(std::int64_t wall_ms, Health state, const TargetCounters& c);
  bool begun() const { return cur_minute_ >= 0; }
  void state_changed(std::int64_t wall_ms, Health to);
  // Impairment known so far: closed spans once, the open one each time.
  void impaired(WallSpan s) { closed_.push_back(s); }
  void set_open_impairment(std::optional<WallSpan> s) { open_ = s; }
  // Counters as of now; a minute boundary passed since the last sample
  // closes that minute's counts.
  void sample(std::int64_t wall_ms, TargetCounters c);
  // Bodies of the minutes that ended at least `lag` before now (all of them,
  // the current one cut at now, when `final`). Each body lacks identity.
  std::vector<nlohmann::json> take(std::int64_t now_ms, std::int64_t lag_ms, bool final);

 private:
  struct Counts {
    std::uint64_t ios = 0, probes = 0, probe_failures = 0;
    std::vector<std::uint64_t> slo_over;
    LatencyHistogram lat;
  };
  Counts delta(const TargetCounters& c) const;
  nlohmann::json finish(std::int64_t m, std::int64_t end, const Counts& n);

  std::vector<std::uint64_t> slo_ns_;
  std::int64_t cur_minute_ = -1;            // start of the minute being counted
  std::int64_t cut_ = 0;                    // the minute rows so far cover time up to here
  TargetCounters base_;                     // counters at cur_minute_'s start
  TargetCounters last_;                     // as of the last sample
  std::map<std::int64_t, Counts> counted_;  // minute start -> counts, not yet written
  Health state_at_cut_ = Health::kOk;
  std::vector<std::pair<std::int64_t, Health>> changes_;  // after cut_
  std::vector<WallSpan> closed_;
  std::optional<WallSpan> open_;
};

}  // namespace sanwatch
