// SPDX-License-Identifier: Apache-2.0
// `sanwatch report merge`: per-host reports into one fleet report per array.
#include <catch2/catch.hpp>

#include "report/format.h"
#include "report/merge.h"
#include "report_scenario.h"

using namespace sanwatch;
using namespace sanwatch::test;
using nlohmann::json;

namespace {

// One host, one run over the whole day, incidents as given.
json host_report(
    const std::string& host,
    const std::vector<std::tuple<std::string, std::string, std::int64_t, std::int64_t>>&
        incidents) {
  LedgerBuilder b;
  b.start('a', kT0 - kHour, host);
  int n = 0;
  for (const auto& [target, array, start, end] : incidents)
    b.incident('a', "aaaaaaaaaaaa-" + std::to_string(++n), target, "stalled", kT0 + start,
               kT0 + end, array, "map", host);
  b.stop('a', kT0 + 25 * kHour);
  ReportArgs a = scenario_args();
  a.claim = "99.9";
  return report_of(b, a);
}

}  // namespace

TEST_CASE("report merge: incidents that overlap on two hosts are array-wide") {
  TzGuard tz("UTC");
  const json db1 =
      host_report("db1", {{"mpatha", "3PARdata VV", kHour, kHour + 30 * kMin},
                          {"mpatha", "3PARdata VV", 5 * kHour, 5 * kHour + 10 * kMin}});
  const json db2 = host_report("db2", {{"mpathq", "3PARdata VV", kHour + 10 * kMin, 2 * kHour},
                                       {"mpathn", "NETAPP LUN", kHour, 2 * kHour}});
  auto m = merge_reports({{"db1.json", db1}, {"db2.json", db2}}, kT0 + 2 * kDay);
  REQUIRE(m.ok());
  const json& r = *m;
  CHECK(r["schema"] == "sanwatch.report/v1");
  CHECK(r["hosts"] == json{"db1", "db2"});
  CHECK(r["targets"].size() == 3);
  CHECK(r["period"]["length_ms"] == kDay);
  CHECK(r["claim"]["allowed_down_ms"] == 86'400);
  REQUIRE(r["incidents"].size() == 4);
  std::map<std::string, bool> wide;
  for (const auto& i : r["incidents"])
    wide[i["host"].get<std::string>() + ":" + i["target"].get<std::string>() + ":" +
         std::to_string(i["impairment"]["start_ms"].get<std::int64_t>() - kT0)] = i["array_wide"];
  CHECK(wide == std::map<std::string, bool>{{"db1:mpatha:3600000", true},
                                            {"db1:mpatha:18000000", false},
                                            {"db2:mpathq:4200000", true},
                                            {"db2:mpathn:3600000", false}});
  REQUIRE(r["arrays"].size() == 2);
  const json& a = r["arrays"][0];
  CHECK(a["array"] == "3PARdata VV");
  CHECK(a["hosts"] == json{"db1", "db2"});
  CHECK(a["measured_ms"] == kDay);
  CHECK(a["down_ms"] == 70 * kMin);             // 1:00–2:00 on either host, 5:00–5:10
  CHECK(a["array_wide_down_ms"] == 20 * kMin);  // 1:10–1:30 on both
  CHECK(a["incidents"] == 3);
  CHECK(a["array_wide_incidents"] == 2);
  CHECK(a["meets_claim"] == false);
  CHECK(r["arrays"][1]["array"] == "NETAPP LUN");
  CHECK(r["arrays"][1]["hosts"] == json{"db2"});
  CHECK(r["ledger"]["merged_from"].size() == 2);
  const std::string text = render_text(r);
  CHECK_THAT(text, Catch::Contains("Arrays across hosts"));
  CHECK_THAT(text, Catch::Contains("array-wide"));
  const std::string csv = render_csv_summary(r);
  CHECK_THAT(csv,
             Catch::Contains("db1 db2,3PARdata VV,array-fleet,,3PARdata VV,86400000,0,4200000,"));
}

TEST_CASE("report merge: refuses what it cannot merge") {
  TzGuard tz("UTC");
  const json db1 = host_report("db1", {});
  CHECK_FALSE(merge_reports({}, 0).ok());
  CHECK_FALSE(merge_reports({{"x.json", json{{"schema", "other/v1"}}}}, 0).ok());
  json slow = db1;
  slow["rules"]["count_slow"] = true;
  auto e = merge_reports({{"a.json", db1}, {"b.json", slow}}, 0);
  REQUIRE_FALSE(e.ok());
  CHECK_THAT(e.error().context, Catch::Contains("b.json: made with other rules"));
  auto merged = merge_reports({{"a.json", db1}}, 0);
  REQUIRE(merged.ok());
  auto again = merge_reports({{"m.json", *merged}}, 0);
  REQUIRE_FALSE(again.ok());
  CHECK_THAT(again.error().context, Catch::Contains("already a merged report"));
}

TEST_CASE("report merge: arrays of one model with different ids stay apart") {
  TzGuard tz("UTC");
  const auto one = [](const std::string& host, const std::string& id) {
    LedgerBuilder b;
    b.start('a', kT0 - kHour, host);
    b.incident('a', "aaaaaaaaaaaa-1", "mpatha", "stalled", kT0 + kHour, kT0 + kHour + 10 * kMin,
               "3PARdata VV", "map", host, id);
    b.stop('a', kT0 + 25 * kHour);
    return report_of(b, scenario_args());
  };
  auto m = merge_reports({{"db1.json", one("db1", "0x2ff70002ac01c4f1")},
                          {"db2.json", one("db2", "0x2ff70002ac0207a3")}},
                         kT0 + 2 * kDay);
  REQUIRE(m.ok());
  const json& r = *m;
  REQUIRE(r["arrays"].size() == 2);
  CHECK(r["arrays"][0]["array_id"] == "0x2ff70002ac01c4f1");
  CHECK(r["arrays"][0]["hosts"] == json{"db1"});
  CHECK(r["arrays"][1]["array_id"] == "0x2ff70002ac0207a3");
  for (const auto& i : r["incidents"]) CHECK(i["array_wide"] == false);  // same time, two arrays
}
