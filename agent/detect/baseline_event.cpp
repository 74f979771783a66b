// SPDX-License-Identifier: Apache-2.0
#include "detect/baseline_event.h"

#include <cmath>

namespace sanwatch {
namespace {

// Three decimals: the line is for people and scripts, not for arithmetic.
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

nlohmann::ordered_json baseline_json(const BaselineEvent& e) {
  nlohmann::ordered_json j{{"ts", e.ts},
                           {"mono_ns", e.mono_ns},
                           {"event", "baseline"},
                           {"target", e.target.label},
                           {"target_type", e.target.type},
                           {"state", e.degraded ? "degraded" : "normal"},
                           {"reason", e.reason},
                           {"ratio_p50", round3(e.ratio_p50)},
                           {"ratio_p99", round3(e.ratio_p99)},
                           {"p50_ms", round3(e.p50_ns / 1e6)},
                           {"p99_ms", round3(e.p99_ns / 1e6)},
                           {"baseline_p50_ms", round3(e.baseline_p50_ns / 1e6)},
                           {"baseline_p99_ms", round3(e.baseline_p99_ns / 1e6)},
                           {"peak_ratio", round3(e.peak_ratio)},
                           {"window_ios", e.window_ios},
                           {"periods", e.periods},
                           {"since_ms", e.since_ms},
                           {"factor", e.factor},
                           {"window_s", e.window_ms / 1000.0},
                           {"hold_s", e.hold_ms / 1000.0}};
  if (e.restored) j["restored"] = true;
  j.update(identity_json(e.target));
  return j;
}

}  // namespace sanwatch
