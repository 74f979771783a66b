// SPDX-License-Identifier: Apache-2.0
// The rows a full writer queue dropped, kept as evidence of the gap: while
// rows are dropped their number, kinds, targets and times are tallied, and
// a `rows_dropped` row in the events chain says so ahead of the first row
// accepted again (or at stop). A reader then knows the ledger is missing
// rows for that span instead of seeing a silent hole.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "ledger/ledger_row.h"

namespace sanwatch {

struct DropTally {
  std::uint64_t rows = 0;
  std::map<std::string, std::uint64_t> kinds;  // kind -> rows dropped
  std::set<std::string> targets;               // the dropped rows' targets ('' left out)
  std::int64_t first_ms = 0, last_ms = 0;      // wall time of the first and last drop
  std::int64_t from_ms = 0, to_ms = 0;         // the span of the dropped rows' ts_ms

  bool empty() const { return rows == 0; }
  void add(const LedgerRow& dropped, std::int64_t now_ms);
  // The `rows_dropped` row (events chain, ts_ms = the first drop).
  LedgerRow row(const std::string& run_id) const;
};

}  // namespace sanwatch
