// SPDX-License-Identifier: Apache-2.0
// A change of a LUN's latency baseline condition (detect/baseline.h): it
// became `degraded` (its p50 or p99 stayed at `factor` times the baseline
// or more for `hold`) or `normal` again. Not a health state: it never pages
// and never changes sanwatch_state; it goes to the event line, the ledger
// (`baseline` rows), a warning alert and /metrics.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "detect/state_change.h"

namespace sanwatch {

struct BaselineEvent {
  TargetIdentity target;
  bool degraded = false;
  bool restored = false;  // a degraded episode carried over from the previous run
  std::string reason;
  std::int64_t wall_ms = 0;  // the evaluation that decided it
  // degraded: when the ratio first reached the factor (the hold began), or
  // for a restored episode when it was flagged; normal: when it was flagged.
  std::int64_t since_ms = 0;
  // The last window's quantiles and the baseline's, ns; 0 when unknown.
  double p50_ns = 0, p99_ns = 0, baseline_p50_ns = 0, baseline_p99_ns = 0;
  double ratio_p50 = 0, ratio_p99 = 0;
  double peak_ratio = 0;  // the largest ratio of the episode so far
  std::uint64_t window_ios = 0;
  int periods = 0;  // earlier periods the baseline is the median of
  double factor = 0;
  std::int64_t window_ms = 0, hold_ms = 0;
  std::string ts;             // RFC 3339, set when announced
  std::uint64_t mono_ns = 0;  // set when announced
};

// The event line: ts, mono_ns, event "baseline", target, target_type,
// state, reason, the numbers (ms and plain ratios), then identity fields.
nlohmann::ordered_json baseline_json(const BaselineEvent& e);

}  // namespace sanwatch
