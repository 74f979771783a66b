// SPDX-License-Identifier: Apache-2.0
// Per-target timelines for the report: consecutive segments covering the
// period, each the worst state of the target's members at that time (from
// their state rows, run by run: a run starts every target at ok), and
// `unmeasured` where no run covered it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "report/ledger_reader.h"

namespace sanwatch {

// Rank of a state: ok < slow < degraded < down < stalled < failed <
// flapping < gone (the agent's severity order); unknown names rank as ok.
int severity(std::string_view state);
// The state of a severity; "ok" out of range.
std::string_view state_of_severity(int severity);

// (run_id, target) -> its state changes in time order.
using StateIndex = std::map<std::pair<std::string, std::string>,
                            std::vector<std::pair<std::int64_t, std::string>>>;
StateIndex index_states(const std::vector<StateRecord>& states);

// [{"start_ms", "end_ms", "state"}] from the period's start to its end.
nlohmann::json timeline_json(const std::vector<std::string>& members,
                             const std::vector<RunRecord>& runs, const StateIndex& states,
                             const Period& p);

}  // namespace sanwatch
