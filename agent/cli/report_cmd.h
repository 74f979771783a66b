// `sanwatch report`, `report verify` and `report merge`: the file and
// terminal side of agent/report (which computes and renders).
// Exit codes: 0 ok, 1 verify found a row that does not match, 2 usage or
// bad input, 3 the ledger cannot be read.
#pragma once

#include "report/options.h"

namespace sanwatch {

inline constexpr int kReportExitMismatch = 1;
inline constexpr int kReportExitUsage = 2;
inline constexpr int kReportExitLedger = 3;

int run_report(const ReportArgs& a);
int run_report_verify(const ReportArgs& a);
int run_report_merge(const ReportArgs& a);

}  // namespace sanwatch
