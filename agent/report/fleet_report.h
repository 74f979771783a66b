// SPDX-License-Identifier: Apache-2.0
// `sanwatch report --prometheus`: the fleet's counters per step
// (fleet_series.h) as a report of schema sanwatch.report/v1, the one every
// format renders. A cross-check of the per-host ledgers, labelled so in its
// `source` field. Definitions (docs/ledger.md, "report --prometheus"):
//   per target (instance × target): measured and down are the sums of the
//   steps' deltas; availability 1 − down/measured; unmeasured = period −
//   measured, never up;
//   per array (array + array_id of its LUNs, maps and plain devices, on all
//   hosts), per step: down = max over its LUNs × hosts, measured = max;
//   availability = 1 − Σdown/Σmeasured;
//   incidents: consecutive steps of a target with down time
//   (basis "prometheus"), array-wide when another host's incident on the
//   same array overlaps.
// Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "base/result.h"
#include "report/fleet_plan.h"
#include "report/fleet_series.h"
#include "report/options.h"

namespace sanwatch {

inline constexpr const char* kFleetNote = "cross-check of the per-host ledgers";

// Errors: a --latency-slo threshold no agent exports in the period.
Result<nlohmann::json> build_fleet_report(const FleetData& d, const ReportOptions& o,
                                          const FleetParams& p);

}  // namespace sanwatch
