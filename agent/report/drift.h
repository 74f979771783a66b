// SPDX-License-Identifier: Apache-2.0
// "Weeks above baseline": from the ledger's `baseline` rows (the agent's
// latency drift condition, detect/baseline.h), per LUN the time it was
// degraded in each ISO week of the period and the largest ratio to its
// baseline seen then. Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ledger/ledger_row.h"
#include "report/period.h"

namespace sanwatch {

struct RunRecord;

// A `baseline` row.
struct BaselineRecord {
  std::string run_id, target, target_type, state;
  std::int64_t ts_ms = 0;
  std::int64_t ratio_milli = 0;  // the largest of its ratios (peak included)
};
BaselineRecord baseline_record_of(const LedgerRow& r);

// The report's `baseline` key: {"rule", "targets": [{"target", "target_type",
// "host", "degraded_ms", "episodes", "peak_ratio", "weeks": [{"week",
// "start_ms", "end_ms", "degraded_ms", "hours_degraded", "peak_ratio",
// "episodes"}]}]}. A degraded episode runs from its `degraded` row to the
// next `baseline` row of the same target in the same run, or to that run's
// end; it is clipped to the period. Weeks are ISO weeks in the local zone.
// Targets whose name matches none of `patterns` (globs; empty: all) and
// targets never degraded in the period are left out.
nlohmann::json weeks_above_baseline(const std::vector<BaselineRecord>& rows,
                                    const std::vector<RunRecord>& runs, const Period& period,
                                    const std::string& host,
                                    const std::vector<std::string>& patterns);

}  // namespace sanwatch
