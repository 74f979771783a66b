// SPDX-License-Identifier: Apache-2.0
// latency_hours: per target and UTC hour, the latency histogram of its
// minute rows (their `lat`), with its I/O count, p50 and p99. Not evidence
// and not chained: a cache the writer thread keeps beside the chains so
// that the baseline (detect/baseline.h) loads weeks of history from a few
// hundred rows per LUN. It is rebuilt from the chained minute and hour rows
// whenever it is missing or has missed rows (docs/ledger.md).
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "detect/baseline.h"
#include "ledger/ledger_store.h"

namespace sanwatch {

// CREATE TABLE IF NOT EXISTS: older and newer sanwatch read the file alike.
Status create_latency_hours(SqliteDb& db);

struct LatencyHoursUpdate {
  bool behind = false;              // rows are missing before these: catch up first
  std::vector<BaselineHour> hours;  // the hours changed, as they stand now
};

// Adds the minute rows among `appended` (just committed, in seq order)
// whose hour starts at or after from_ms, when the cache has seen every
// earlier row of the minutes chain. One transaction.
Result<LatencyHoursUpdate> latency_hours_add(LedgerStore& store,
                                             const std::vector<LedgerRow>& appended,
                                             std::int64_t from_ms);

// One step of catching up with rows the cache has not seen, at most
// max_rows of them, in one transaction. A new cache, or one that missed
// rows that are gone now, is rebuilt: hour rows first, then minute rows.
// Returns the rows read; 0 once caught up. The hours it changed, as they
// stand now, are added to `changed` when given.
Result<std::int64_t> latency_hours_catch_up(LedgerStore& store, std::int64_t from_ms,
                                            std::int64_t max_rows = 2000,
                                            std::vector<BaselineHour>* changed = nullptr);

// Drops hours before before_ms; returns how many.
Result<std::int64_t> latency_hours_prune(LedgerStore& store, std::int64_t before_ms);

// Every hour from from_ms on, by target and hour.
Result<std::vector<BaselineHour>> latency_hours_load(LedgerStore& store, std::int64_t from_ms);

// The degraded episodes the last run left open: per target its latest
// `baseline` row, when that says degraded and is not older than since_ms.
Result<std::vector<BaselineRestore>> baseline_restores(LedgerStore& store, std::int64_t since_ms);

}  // namespace sanwatch
