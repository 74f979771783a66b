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

// Adds a minute to the tallies, one per SLO (in the order of `slos`).
// A minute without I/O, or without the threshold, adds nothing.
void tally_minute(const MinuteCounts& m, const std::vector<LatencySlo>& slos,
                  std::vector<LatencyTally>& tallies);

}  // namespace sanwatch
