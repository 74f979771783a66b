// SPDX-License-Identifier: Apache-2.0
// The accounting rules of docs/ledger.md, applied to what the ledger holds
// for a period: coverage, down spans, availability and nines, latency
// compliance, timelines and the incidents, as the report JSON (schema
// sanwatch.report/v1), the one source every format renders from. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "report/ledger_reader.h"
#include "report/options.h"
#include "report/spans.h"

namespace sanwatch {

inline constexpr const char* kReportSchema = "sanwatch.report/v1";

// stalled, failed, down, gone, flapping (and slow when counted).
bool counts_as_down(std::string_view worst_state, bool count_slow);

// An incident as the report counts it: an `incident` row, or an
// `incident_open` without one, which runs to its run's coverage end.
struct Incident {
  std::string target, target_type, array, worst_state;
  Span impairment, detection;
  bool counted = false;
  nlohmann::json body;  // the ledger's body (made up from incident_open for those)
  std::string array_id;
};
std::vector<Incident> resolve_incidents(const LedgerData& d, bool count_slow);

// Union of the runs' coverage within the period.
Spans measured_spans(const std::vector<RunRecord>& runs, const Period& p);

// Errors: a --latency-slo threshold the ledger does not record.
Result<nlohmann::json> build_report(const LedgerData& d, const ReportOptions& o);

// The report's `period` and `claim` (null without one) objects.
nlohmann::json period_json(const Period& p);
nlohmann::json claim_json(const std::optional<Percent>& claim, const Period& p);

// Availability of `down` out of `measured` ms: percent and nines as the
// JSON carries them (null when nothing was measured; nines "∞" when
// nothing was down).
nlohmann::json availability_percent_json(std::int64_t measured, std::int64_t down);
nlohmann::json nines_json(std::int64_t measured, std::int64_t down);

}  // namespace sanwatch
