// SPDX-License-Identifier: Apache-2.0
// "Weeks above baseline" in `sanwatch report`: degraded episodes from the
// ledger's `baseline` rows, per ISO week of the period, in every format.
#include <catch2/catch.hpp>

#include "report/format.h"
#include "report/merge.h"
#include "report/period.h"
#include "report_test_util.h"

using namespace sanwatch;
using namespace sanwatch::test;
using nlohmann::json;

namespace {

constexpr std::int64_t kDec1 = 1764547200000;  // 2025-12-01T00:00:00Z, a Monday (W49)

ReportArgs december() {
  ReportArgs a;
  a.from = "2025-12-01T00:00:00Z";
  a.to = "2025-12-22T00:00:00Z";
  return a;
}

void build(LedgerBuilder& b) {
  b.start('a', kDec1 - kDay);
  b.state('a', "mpatha", kDec1, "ok", "ok");
  // 18 h in W49, peak 4.2x.
  b.baseline('a', "mpatha", kDec1 + 2 * kDay + 10 * kHour, "degraded", 2500);
  b.baseline('a', "mpatha", kDec1 + 3 * kDay + 4 * kHour, "normal", 1100, 4200);
  // Still degraded when run a stops: 12 h in W50, up to the stop.
  b.baseline('a', "mpatha", kDec1 + 8 * kDay + 12 * kHour, "degraded", 3000);
  b.baseline('a', "sdc", kDec1 + 8 * kDay, "normal", 900);  // never degraded
  b.stop('a', kDec1 + 9 * kDay);
  // Carried over by run b (the gap between the runs is not counted), ended
  // a day into W51.
  b.start('b', kDec1 + 10 * kDay);
  b.baseline('b', "mpatha", kDec1 + 10 * kDay, "degraded", 0, 3000, true);
  b.baseline('b', "mpatha", kDec1 + 15 * kDay, "normal", 1500, 5000);
  b.alive('b', kDec1 + 20 * kDay);
}

}  // namespace

TEST_CASE("report baseline: degraded time per ISO week, episodes clipped to their runs") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build(b);
  const json r = report_of(b, december());
  REQUIRE(r.contains("baseline"));
  CHECK_FALSE(r["baseline"]["rule"].get<std::string>().empty());
  const json& targets = r["baseline"]["targets"];
  REQUIRE(targets.size() == 1);
  const json& t = targets[0];
  CHECK(t["target"] == "mpatha");
  CHECK(t["target_type"] == "map");
  CHECK(t["host"] == "db1");
  CHECK(t["episodes"] == 3);
  CHECK(t["peak_ratio"] == 5.0);
  CHECK(t["degraded_ms"] == (18 + 12 + 96 + 24) * kHour);
  REQUIRE(t["weeks"].size() == 3);
  const json& w = t["weeks"];
  CHECK(w[0]["week"] == "2025-W49");
  CHECK(w[0]["start_ms"] == kDec1);
  CHECK(w[0]["end_ms"] == kDec1 + 7 * kDay);
  CHECK(w[0]["degraded_ms"] == 18 * kHour);
  CHECK(w[0]["hours_degraded"] == 18.0);
  CHECK(w[0]["peak_ratio"] == 4.2);
  CHECK(w[1]["week"] == "2025-W50");
  CHECK(w[1]["degraded_ms"] == (12 + 96) * kHour);
  CHECK(w[1]["episodes"] == 2);
  CHECK(w[2]["week"] == "2025-W51");
  CHECK(w[2]["degraded_ms"] == 24 * kHour);
  CHECK(w[2]["peak_ratio"] == 5.0);
  // --target keeps matching LUNs only.
  ReportArgs only = december();
  only.targets = {"sd*"};
  CHECK(report_of(b, only)["baseline"]["targets"].empty());
}

TEST_CASE("report baseline: weeks begin on Monday in the local zone") {
  TzGuard tz("America/New_York");
  LedgerBuilder b;
  build(b);
  ReportArgs a;
  a.from = "2025-12-01";
  a.to = "2025-12-22";
  const json r = report_of(b, a);
  const json& w = r["baseline"]["targets"][0]["weeks"];
  CHECK(w[0]["week"] == "2025-W49");
  CHECK(w[0]["start_ms"] == kDec1 + 5 * kHour);  // 2025-12-01T00:00-05:00
  CHECK(w[1]["start_ms"] == kDec1 + 7 * kDay + 5 * kHour);
}

TEST_CASE("report baseline: every format shows the weeks, merge keeps each host's") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build(b);
  const json r = report_of(b, december());
  const std::string text = render_text(r);
  INFO(text);
  CHECK(text.find("Weeks above baseline") != std::string::npos);
  CHECK(text.find("2025-W50") != std::string::npos);
  CHECK(text.find("4 d 12 h") != std::string::npos);
  CHECK(text.find("5.0x") != std::string::npos);
  CHECK(render_md(r).find("## Weeks above baseline") != std::string::npos);
  const std::string html = render_report(r, "html", false).value();
  CHECK(html.find("<h2>Weeks above baseline</h2>") != std::string::npos);
  CHECK(html.find("2025-W51") != std::string::npos);
  // Nothing degraded: no section.
  LedgerBuilder quiet;
  quiet.start('a', kDec1);
  quiet.baseline('a', "mpatha", kDec1 + kDay, "normal", 1000);
  const json q = report_of(quiet, december());
  CHECK(q["baseline"]["targets"].empty());
  CHECK(render_text(q).find("Weeks above baseline") == std::string::npos);
  CHECK(render_report(q, "html", false).value().find("Weeks above baseline") == std::string::npos);
  json other = r;
  other["hosts"] = {"db2"};
  other["baseline"]["targets"][0]["host"] = "db2";
  auto m = merge_reports({{"a.json", r}, {"b.json", other}}, kDec1 + 30 * kDay);
  REQUIRE(m);
  REQUIRE((*m)["baseline"]["targets"].size() == 2);
  CHECK((*m)["baseline"]["targets"][1]["host"] == "db2");
}
