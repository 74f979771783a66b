// SPDX-License-Identifier: Apache-2.0
// `sanwatch report merge`: per-host reports (sanwatch.report/v1) into one
// fleet report of the same schema: hosts of all of them, their targets and
// incidents side by side, and per array a fleet summary. Incidents on the
// same array whose impairments overlap in time on two or more hosts are
// flagged `array_wide`. Arrays are matched by their `array` name (INQUIRY
// vendor and product), the identity the ledger records. Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace sanwatch {

struct NamedReport {
  std::string name;  // the file, for messages
  nlohmann::json report;
};

// Errors: not a sanwatch.report/v1 report, already merged, or reports
// made with different rules (--count-slow, --by).
Result<nlohmann::json> merge_reports(const std::vector<NamedReport>& reports,
                                     std::int64_t generated_ms);

}  // namespace sanwatch
