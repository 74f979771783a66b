// SPDX-License-Identifier: Apache-2.0
// Answers of the Prometheus HTTP API (/api/v1/query, /api/v1/query_range,
// /api/v1/series), as Prometheus, Thanos, Mimir and VictoriaMetrics give
// them: outside input, parsed defensively from a string_view (no exception
// escapes, any byte sequence is either parsed or an error), so that a fuzz
// target can drive it directly. Pure.
//
// An answer a number must not be computed from is refused with the reason:
// `status` other than "success" (errorType and error quoted), `warnings`
// present (Prometheus and Thanos report partial data and dropped series
// there), `isPartial: true` (VictoriaMetrics), or a shape unlike the API's.
// `infos` (PromQL's informational annotations) are not refusals.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sanwatch {

using PromLabels = std::map<std::string, std::string>;

struct PromSample {
  std::int64_t ts_ms = 0;  // the API's float seconds, rounded to ms
  double value = 0;        // "NaN", "+Inf" and "-Inf" parse as such
};

struct PromSeries {
  PromLabels labels;  // __name__ included when the answer has it
  std::vector<PromSample> samples;
};

struct PromAnswer {
  std::string result_type;  // "matrix", "vector", "scalar" or "series"
  std::vector<PromSeries> series;
};

// The largest body parsed (larger ones are refused as malformed): the
// caller asks in windows small enough to stay far below it.
inline constexpr std::size_t kMaxPromBody = std::size_t{1} << 30;

// /api/v1/query and /api/v1/query_range. "scalar" answers become one
// series without labels. "string" answers and histogram samples (native
// histograms) are not what sanwatch asks for and are refused as malformed.
Result<PromAnswer> parse_prom_answer(std::string_view body);
// /api/v1/series: one series per label set, without samples.
Result<PromAnswer> parse_prom_series(std::string_view body);

}  // namespace sanwatch
