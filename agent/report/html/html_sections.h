// SPDX-License-Identifier: Apache-2.0
// The sections of the HTML report page, in page order. Each takes the whole
// report JSON (schema sanwatch.report/v1, docs/ledger.md) and tolerates any
// optional part being absent.
#pragma once

#include <optional>
#include <string>

#include "report/html/html_text.h"
#include "report/html/html_timeline.h"

namespace sanwatch::html {

// The availability claim, when the report was made against one.
struct Claim {
  double percent = 0;
  double allowed_down_ms = 0;
};
std::optional<Claim> claim_of(const Json& report, const Period& period);

// Title, period, hosts, claim, coverage, one overview row per LUN, legend.
std::string header_section(const Json& report, const Period& period, IdSource& ids);
// One row per LUN: availability, nines, down, claim met, incidents.
std::string overview_table(const Json& report, const Period& period);
// Per array, per LUN: timeline band, availability bar, latency rows.
std::string arrays_section(const Json& report, const Period& period, IdSource& ids);
// Weeks above baseline (latency drift), when any LUN was degraded.
std::string baseline_section(const Json& report, const Period& period);
// Every incident in time order.
std::string incidents_section(const Json& report, const Period& period);
// Accounting rules, coverage (runs, gaps), ledger chain heads.
std::string evidence_section(const Json& report, const Period& period);
// The page's CSS (screen geometry from layout.h, print rules for A4 landscape).
std::string page_style();

// The incident's target label: dm name for maps, else kernel name.
std::string incident_target(const Json& incident);
// Array identity of a target or incident; "" when unknown.
std::string array_of(const Json& j);

}  // namespace sanwatch::html
