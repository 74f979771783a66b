// SPDX-License-Identifier: Apache-2.0
// The `lat` field of minute and hour rows, and the `hist` column of
// latency_hours: a latency histogram as [[upper_ns, count], ...], non-zero
// buckets only, ascending. Keyed by each bucket's upper bound in ns rather
// than its index, so rows stay readable if the bucket layout ever changes:
// a count is put back into the bucket that holds upper_ns - 1.
#pragma once

#include <nlohmann/json.hpp>

#include "kernel/histogram.h"

namespace sanwatch {

nlohmann::json lat_json(const LatencyHistogram& h);
// Entries that are not [positive integer, non-negative integer] are skipped.
LatencyHistogram lat_from_json(const nlohmann::json& j);
// Adds a `lat` array into a histogram.
void add_lat(LatencyHistogram& into, const nlohmann::json& j);

}  // namespace sanwatch
