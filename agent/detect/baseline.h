// SPDX-License-Identifier: Apache-2.0
// Latency drift per LUN, "slower than it used to be" (issue 14): the p50
// and p99 of the last `window` of completed I/O against a baseline, the
// median of the same hour (UTC) in each earlier period (week) within
// `learn`. A LUN is `degraded` once either ratio has stayed at `factor` or
// more for `hold` (evaluations without enough data neither extend nor
// reset that), and `normal` again once both stayed below for one window.
//
// Pure and single-threaded (the event loop): the current window comes from
// cumulative histograms observed every sample, the history as hourly
// summaries that the ledger's writer thread derives from its
// latency_hours table; decisions come out as events. Maps and plain
// devices only: the LUNs a database sees.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detect/baseline_event.h"
#include "detect/config.h"
#include "kernel/histogram.h"

namespace sanwatch {

inline constexpr std::int64_t kBaselineHourMs = 3'600'000;
// The baseline is the median of at least this many earlier periods.
inline constexpr int kBaselineMinPeriods = 2;

// One hour of one target, as latency_hours keeps it.
struct HourSummary {
  std::uint64_t ios = 0;
  std::int64_t p50_ns = 0, p99_ns = 0;
  bool operator==(const HourSummary&) const = default;
};
HourSummary summarize(const LatencyHistogram& h);

struct BaselineHour {
  std::string target;
  std::int64_t hour_ms = 0;  // start of the UTC hour
  HourSummary summary;
};

// A degraded episode the previous run left open (its last `baseline` row).
struct BaselineRestore {
  std::string target, target_type;
  std::int64_t since_ms = 0;  // when it was flagged
  double peak_ratio = 0;
};

// What /metrics shows of one LUN.
struct BaselineStatus {
  std::string target, target_type;
  bool degraded = false;
  bool has_ratio = false;  // a full window with enough I/O, and a baseline: the values below
  double p50_s = 0, p99_s = 0, baseline_p50_s = 0, baseline_p99_s = 0;
  double ratio_p50 = 0, ratio_p99 = 0;
};

struct BaselineValue {
  double p50_ns = 0, p99_ns = 0;
  int periods = 0;  // earlier periods with enough I/O in that hour
};

class BaselineTracker {
 public:
  explicit BaselineTracker(const BaselineSettings& s);
  ~BaselineTracker();
  BaselineTracker(const BaselineTracker&) = delete;
  BaselineTracker& operator=(const BaselineTracker&) = delete;

  // An hour's summary, new or updated (the latest wins).
  void add_hour(const BaselineHour& h);
  // Carries a degraded episode over; announced at the next evaluation.
  void restore(const BaselineRestore& r);
  // A target's cumulative latency histogram (all ops) at wall_ms.
  void observe(const TargetIdentity& id, const LatencyHistogram& cumulative, std::int64_t wall_ms);
  // Decides every LUN once per window/60 (once a minute by default; calls
  // in between return nothing). Returns the changes to announce.
  std::vector<BaselineEvent> evaluate(std::int64_t wall_ms);
  std::vector<BaselineStatus> status() const;

  // The baseline for an evaluation at wall_ms: the hour holding the middle
  // of the window, in each of the learn/period earlier periods.
  std::optional<BaselineValue> baseline(const std::string& target, std::int64_t wall_ms) const;
  const BaselineSettings& settings() const { return s_; }

 private:
  struct Lun;
  struct Reading;
  Lun& lun(const std::string& label);
  void roll(Lun& l, std::int64_t wall_ms) const;
  std::optional<Reading> reading(const Lun& l, std::int64_t wall_ms) const;
  std::optional<BaselineValue> baseline_of(const Lun& l, std::int64_t wall_ms) const;
  void decide(Lun& l, std::int64_t wall_ms, std::vector<BaselineEvent>& out);
  BaselineEvent event(const Lun& l, std::int64_t wall_ms, std::string reason) const;
  void flag(Lun& l, std::int64_t wall_ms, std::vector<BaselineEvent>& out);
  void clear(Lun& l, std::int64_t wall_ms, std::string reason, std::vector<BaselineEvent>& out);
  void prune(Lun& l, std::int64_t wall_ms) const;

  BaselineSettings s_;
  std::int64_t window_ms_, hold_ms_, period_ms_, slot_ms_;
  int periods_;  // learn / period
  std::int64_t next_eval_ms_ = 0;
  std::map<std::string, std::unique_ptr<Lun>> luns_;  // by target label
};

}  // namespace sanwatch
