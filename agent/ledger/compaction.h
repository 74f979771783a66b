// Minute rollups older than `[ledger] minute_rollups` become hourly rows:
// one row per target per minute is 525,600 rows a year; per hour, 8,760.
// An hour keeps what reports need: ms per state, impaired ms, I/O and
// over-threshold counts, canary counts, and for each latency threshold how
// many of its minutes with I/O reached each compliance level.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "ledger/ledger_store.h"

namespace sanwatch {

// Compliance levels kept per hour: a minute "reached" level L when at least
// L % of its I/Os were under the threshold.
inline constexpr const char* kComplianceLevels[] = {"90", "99", "99.9", "99.99", "100"};

// Hour rows (chain hours, kind hour) from minute rows, in hour order.
std::vector<LedgerRow> hours_of(const std::vector<LedgerRow>& minutes);

// Folds the minutes chain's rows older than cutoff (rounded down to an hour)
// into hour rows and drops them, in one transaction. Returns rows dropped.
Result<std::int64_t> compact_minutes(LedgerStore& store, std::int64_t cutoff_ms,
                                     std::int64_t now_ms);

}  // namespace sanwatch
