// SPDX-License-Identifier: Apache-2.0
// Latency compliance from minute rollups, folded as they stream out of the
// ledger: a month of minutes of hundreds of targets is millions of rows,
// too many to hold. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "report/options.h"

namespace sanwatch {

// One `minute` row's counts: its I/Os, and the I/Os over each SLO's
// threshold (in the order of the SLOs; none when the minute lacks it).
struct MinuteCounts {
  std::uint64_t ios = 0;
  std::vector<std::optional<std::uint64_t>> over;
};

// One target against one --latency-slo, over the period so far.
struct LatencyTally {
  std::uint64_t ios = 0, over = 0;
  std::uint64_t minutes = 0;  // with I/O and the threshold recorded
  std::uint64_t met = 0;      // of which the share under the threshold ≥ the target
  LatencyTally& operator+=(const LatencyTally& o);
};

// One `hour` row (minute rows past [ledger] minute_rollups, compacted): its
// sums, and per SLO how many of its minutes with I/O reached each of the
// compliance levels it keeps (docs/ledger.md), as (level in 10^-4 %, count).
struct HourCounts {
  std::uint64_t ios = 0, minutes_with_io = 0;
  std::vector<std::optional<std::uint64_t>> over;
  std::vector<std::vector<std::pair<std::int64_t, std::uint64_t>>> reaching;
};

// Adds an hour: I/O counts exactly; minutes met are those that reached the
// lowest kept level at or above the SLO's target (exact when the target is
// a level, a lower bound otherwise).
void tally_hour(const HourCounts& h, const std::vector<LatencySlo>& slos,
                std::vector<LatencyTally>& tallies);

// Adds a minute to the tallies, one per SLO (in the order of `slos`).
// A minute without I/O, or without the threshold, adds nothing.
void tally_minute(const MinuteCounts& m, const std::vector<LatencySlo>& slos,
                  std::vector<LatencyTally>& tallies);

}  // namespace sanwatch
