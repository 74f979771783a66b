// SPDX-License-Identifier: Apache-2.0
// Reads what a report needs from the ledger (read-only, in one read
// transaction so that a running agent's writes do not tear it) and types
// it: runs with their coverage end, incidents, state changes, minute
// rollups and what is known of each target. The rows' shapes are
// docs/ledger.md's; accounting.h decides what they mean.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "ledger/ledger_row.h"
#include "report/drift.h"
#include "report/latency.h"
#include "report/options.h"
#include "report/period.h"
#include "report/spans.h"

namespace sanwatch {

class LedgerStore;

// One agent run: from its `start` row to its coverage end.
struct RunRecord {
  std::string run_id, host;
  std::int64_t start_ms = 0, end_ms = 0;
  std::string end = "open";  // stop, unclean (unclean_end row), open (neither)
  std::vector<std::uint64_t> latency_slos_ns;
  // Spans whose rows the agent dropped (`rows_dropped`): unmeasured, since
  // the states and incidents of that time may be among them. Normalized.
  Spans lost;
};

// An `incident` row.
struct IncidentRecord {
  std::string target, id, run_id, target_type, array, array_id, host, worst_state;
  Span impairment, detection;
  nlohmann::json body;  // as stored
};

// An `incident_open` row whose `incident` never came.
struct OpenRecord {
  std::string target, id, run_id, target_type, host, state;
  std::int64_t impairment_start_ms = 0, detected_ms = 0;
  nlohmann::json body;
};

struct StateRecord {
  std::string run_id, target;
  std::int64_t ts_ms = 0;
  std::string to;
};

// The latest non-empty identity seen for a target label.
struct TargetInfo {
  std::string target_type, wwid, array, array_id;
  bool in_period = false;  // has minute or state rows of the period's runs
};

struct LedgerData {
  std::string path;
  std::map<std::string, std::string> heads;  // chain -> hash of its last row
  std::vector<RunRecord> runs;               // every run, by start
  std::vector<IncidentRecord> incidents;     // those not over before the period
  std::vector<OpenRecord> open_incidents;    // without an `incident`, before the period's end
  std::vector<StateRecord> states;           // of the runs that overlap the period
  std::vector<BaselineRecord> baseline;      // `baseline` rows of those runs
  // target -> one tally per --latency-slo, from its minute rows in the period
  std::map<std::string, std::vector<LatencyTally>> latency;
  std::map<std::string, TargetInfo> targets;
};

// Minute rows are folded into `latency` for these SLOs as they are read.
Result<LedgerData> read_ledger(LedgerStore& store, const Period& period,
                               const std::vector<LatencySlo>& slos);

// Row to record (pure; exposed for tests). Missing fields read as empty.
RunRecord run_of(const LedgerRow& start);
IncidentRecord incident_of(const LedgerRow& r);
OpenRecord open_of(const LedgerRow& r);

}  // namespace sanwatch
