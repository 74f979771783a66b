// SPDX-License-Identifier: Apache-2.0
// `sanwatch report`, `report verify` and `report merge`: the file and
// terminal side of agent/report (which computes and renders).
// Exit codes: 0 ok, 1 verify found a row that does not match, 2 usage or
// bad input, 3 the ledger (or, with --prometheus, the Prometheus API)
// cannot be read, or Prometheus gave a partial answer or one with warnings.
#pragma once

#include "cli/prom_client.h"
#include "report/options.h"

namespace sanwatch {

inline constexpr int kReportExitMismatch = 1;
inline constexpr int kReportExitUsage = 2;
inline constexpr int kReportExitLedger = 3;

int run_report(const ReportArgs& a);
int run_report_verify(const ReportArgs& a);
int run_report_merge(const ReportArgs& a);

// `sanwatch report --prometheus URL`: the fleet report from the
// Prometheus HTTP API (report/fleet_report.h).
struct PromReportArgs {
  PromClientOptions client;
  std::string selector;  // label matchers added to every query
  std::string step = "60s";
};
int run_report_prometheus(const ReportArgs& a, const PromReportArgs& p);

}  // namespace sanwatch
