// SPDX-License-Identifier: Apache-2.0
// What `sanwatch report --prometheus` asks the Prometheus HTTP API for a
// period: the step grid the fleet's counters are sampled on, and the
// requests (PromQL and parameters) in the order their answers are fed to
// FleetData (fleet_series.h). The HTTP side (agent/cli) only sends them.
// Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "report/options.h"

namespace sanwatch {

// The period cut into steps. Grid points t_0 = from, t_k = from + k·step,
// and t_N = to (the last step is shorter when the period is not a whole
// number of steps). Step k (1..N) is [t_{k-1}, t_k); the value of a
// counter at t_k is its last scrape at or before t_k.
struct StepGrid {
  std::int64_t from_ms = 0, to_ms = 0, step_ms = 60'000;
  std::size_t steps() const;  // N
  std::int64_t at(std::size_t k) const;
  std::int64_t length(std::size_t k) const { return at(k) - at(k - 1); }  // of step k ≥ 1
  // k for a grid point's time; nullopt for any other time.
  std::optional<std::size_t> index_of(std::int64_t ts_ms) const;
  // Whether t_N lies on the regular grid (the period is whole steps).
  bool whole() const { return (to_ms - from_ms) % step_ms == 0; }
};

// The series a request asks for.
enum class FleetWhat {
  kInfo,      // /api/v1/series sanwatch_device_info: identity, array keys
  kMeasured,  // Σ_state sanwatch_target_state_seconds_total, raw
  kDown,      // sanwatch_target_down_seconds_total, raw
  kStates,    // non-ok states reached within each step
  kIos,       // Σ_op sanwatch_io_completed_total per device, raw
  kOver,      // Σ_op sanwatch_io_latency_over_threshold_total per device, raw
};

struct PromRequest {
  FleetWhat what = FleetWhat::kInfo;
  std::size_t slo = 0;  // kOver: index into the options' --latency-slo list
  std::string path;     // "/api/v1/query_range", "/api/v1/query" or "/api/v1/series"
  std::vector<std::pair<std::string, std::string>> params;  // not yet URL-encoded
  std::string promql;                                       // for messages
};

struct FleetParams {
  std::string url;       // for the report (credentials already removed)
  std::string selector;  // checked label matchers, without braces
  std::int64_t step_ms = 60'000;
};

// At most this many grid points per query_range (Prometheus refuses more
// than 11,000 per series; smaller answers also keep memory bounded).
inline constexpr std::size_t kWindowPoints = 1440;

// Checks `--selector` (PromQL label matchers: name op "value", comma
// separated, op = != =~ !~; braces optional) and returns it without braces.
Result<std::string> check_selector(std::string_view s);

// The grid and the requests for a period: identity first, then the
// counters window by window in time order, then the period's end.
StepGrid make_grid(const Period& p, std::int64_t step_ms);
std::vector<PromRequest> fleet_requests(const StepGrid& g, const FleetParams& p,
                                        const std::vector<LatencySlo>& slos);
// The PromQL expressions the report is made of (for its `source` field).
std::vector<std::string> fleet_queries(const FleetParams& p, const std::vector<LatencySlo>& slos);
// Exact decimal seconds of a threshold, as the agent labels it
// (threshold_seconds="0.01").
std::string threshold_label(std::uint64_t ns);

}  // namespace sanwatch
