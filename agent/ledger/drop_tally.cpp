// SPDX-License-Identifier: Apache-2.0
#include "ledger/drop_tally.h"

#include <algorithm>

namespace sanwatch {

void DropTally::add(const LedgerRow& dropped, std::int64_t now_ms) {
  if (rows == 0) {
    first_ms = now_ms;
    from_ms = to_ms = dropped.ts_ms;
  }
  ++rows;
  ++kinds[dropped.kind];
  if (!dropped.target.empty()) targets.insert(dropped.target);
  last_ms = now_ms;
  from_ms = std::min(from_ms, dropped.ts_ms);
  to_ms = std::max(to_ms, dropped.ts_ms);
}

LedgerRow DropTally::row(const std::string& run_id) const {
  nlohmann::json k = nlohmann::json::object();
  for (const auto& [kind, n] : kinds) k[kind] = n;
  return LedgerRow{kChainEvents,
                   0,
                   "rows_dropped",
                   first_ms,
                   "",
                   {{"run_id", run_id},
                    {"rows", rows},
                    {"kinds", std::move(k)},
                    {"targets", targets},
                    {"first_ms", first_ms},
                    {"last_ms", last_ms},
                    {"from_ms", from_ms},
                    {"to_ms", to_ms}}};
}

}  // namespace sanwatch
