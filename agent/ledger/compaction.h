// SPDX-License-Identifier: Apache-2.0
// Minute rollups older than `[ledger] minute_rollups` become hourly rows:
// one row per target per minute is 525,600 rows a year; per hour, 8,760.
// An hour keeps what reports need: ms per state, impaired ms, I/O and
// over-threshold counts, canary counts, the latency histogram (`lat`), and
// for each latency threshold how many of its minutes with I/O reached each
// compliance level.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernel/histogram.h"
#include "ledger/ledger_store.h"

namespace sanwatch {

// Compliance levels kept per hour: a minute "reached" level L when at least
// L % of its I/Os were under the threshold.
inline constexpr const char* kComplianceLevels[] = {"90", "99", "99.9", "99.99", "100"};

// Folds minute rows, one at a time, into hour rows (chain hours, kind hour).
class HourFold {
 public:
  void add(const LedgerRow& minute);
  // The hours folded so far, in hour order.
  std::vector<LedgerRow> take();

 private:
  std::map<std::pair<std::int64_t, std::string>, nlohmann::json> hours_;  // (hour, target)
  std::map<std::pair<std::int64_t, std::string>, LatencyHistogram> lat_;
};

// Folds the minutes chain's oldest rows, at most `max_hours` hours of them
// and none at or after cutoff (rounded down to an hour), into hour rows and
// drops them, in one transaction. Streams: memory holds the hours, not the
// minutes. Returns the minute and alive rows dropped; 0 when none before the
// cutoff is left.
// Callers loop, committing other rows between calls.
Result<std::int64_t> compact_minutes(LedgerStore& store, std::int64_t cutoff_ms,
                                     std::int64_t now_ms, int max_hours = 1);

}  // namespace sanwatch
