// SPDX-License-Identifier: Apache-2.0
// One day of a host's ledger that exercises every accounting rule, shared
// by the report tests (accounting, formats, the command).
//
//   2026-11-01T00:00Z = T0; the period is [T0, T0 + 24 h).
//   run a: T0-1h .. stop T0+10h
//     mpatha stalled T0-30m .. T0+30m   (across the period's start: 30 min count)
//     mpatha slow    T0+2h .. T0+2h10m  (counted only with --count-slow)
//     minutes of mpatha: T0-1m (outside), T0+5m, T0+6m, T0+7m (no I/O); sdb (path)
//   run b: T0+11h .. crashed, last seen T0+15h (unclean_end found by run c)
//     mpathb incident_open stalled T0+14h30m, never closed: 30 min
//   run c: T0+16h .. still running, last alive T0+23h
//     mpatha incident_open slow T0+22h, then stalled: runs to T0+23h, 1 h
//     mpathb flapping T0+22h30m .. T0+22h35m (inside mpatha's hour: the
//     array's union counts it once)
//   measured 21 h, unmeasured 3 h in three gaps.
#pragma once

#include "report_test_util.h"

namespace sanwatch::test {

inline constexpr std::int64_t kT0 = 1793491200000;  // 2026-11-01T00:00:00Z

inline void build_scenario(LedgerBuilder& b) {
  const std::string arr = "3PARdata VV";
  b.start('a', kT0 - kHour);
  b.state('a', "mpatha", kT0 - 29 * kMin, "ok", "stalled");
  b.incident_open('a', "aaaaaaaaaaaa-1", "mpatha", "stalled", kT0 - 30 * kMin, kT0 - 29 * kMin);
  b.state('a', "mpatha", kT0 + 31 * kMin, "stalled", "ok");
  b.incident('a', "aaaaaaaaaaaa-1", "mpatha", "stalled", kT0 - 30 * kMin, kT0 + 30 * kMin);
  b.state('a', "mpatha", kT0 + 2 * kHour, "ok", "slow");
  b.incident_open('a', "aaaaaaaaaaaa-2", "mpatha", "slow", kT0 + 2 * kHour, kT0 + 2 * kHour);
  b.state('a', "mpatha", kT0 + 2 * kHour + 10 * kMin, "slow", "ok");
  b.incident('a', "aaaaaaaaaaaa-2", "mpatha", "slow", kT0 + 2 * kHour, kT0 + 2 * kHour + 10 * kMin);
  b.minute('a', "mpatha", kT0 - kMin, 500, 500, 500);
  b.minute('a', "mpatha", kT0 + 5 * kMin, 1000, 5, 0);
  b.minute('a', "mpatha", kT0 + 6 * kMin, 2000, 40, 1);
  b.minute('a', "mpatha", kT0 + 7 * kMin, 0, 0, 0);
  b.minute('a', "sdb", kT0 + 5 * kMin, 500, 0, 0, "path", arr);
  b.stop('a', kT0 + 10 * kHour);

  b.start('b', kT0 + 11 * kHour);
  b.incident_open('b', "bbbbbbbbbbbb-1", "mpathb", "stalled", kT0 + 14 * kHour + 30 * kMin,
                  kT0 + 14 * kHour + 30 * kMin + 2000);
  b.state('b', "mpathb", kT0 + 14 * kHour + 30 * kMin + 2000, "ok", "stalled");
  b.alive('b', kT0 + 14 * kHour + 59 * kMin);

  b.start('c', kT0 + 16 * kHour);
  b.unclean_end('b', kT0 + 11 * kHour, kT0 + 15 * kHour, 'c', kT0 + 16 * kHour);
  b.incident_open('c', "cccccccccccc-1", "mpatha", "slow", kT0 + 22 * kHour, kT0 + 22 * kHour);
  b.state('c', "mpatha", kT0 + 22 * kHour, "ok", "slow");
  b.state('c', "mpatha", kT0 + 22 * kHour + kMin, "slow", "stalled");
  b.state('c', "mpathb", kT0 + 22 * kHour + 30 * kMin, "ok", "flapping");
  b.state('c', "mpathb", kT0 + 22 * kHour + 36 * kMin, "flapping", "ok");
  b.incident('c', "cccccccccccc-2", "mpathb", "flapping", kT0 + 22 * kHour + 30 * kMin,
             kT0 + 22 * kHour + 35 * kMin);
  b.alive('c', kT0 + 23 * kHour);
}

inline ReportArgs scenario_args() {
  ReportArgs a;
  a.from = "2026-11-01T00:00:00Z";
  a.to = "2026-11-02T00:00:00Z";
  return a;
}

}  // namespace sanwatch::test
