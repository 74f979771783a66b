// SPDX-License-Identifier: Apache-2.0
// `sanwatch report` formats: every one renders the report JSON, the source
// of truth (agent/report/format.h).
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "report/format.h"
#include "report/render_util.h"
#include "report_scenario.h"

using namespace sanwatch;
using namespace sanwatch::test;
using nlohmann::json;

namespace {

json scenario_report(ReportArgs args = scenario_args()) {
  LedgerBuilder b;
  build_scenario(b);
  return report_of(b, std::move(args));
}

std::vector<std::string> lines_of(const std::string& s, const char* eol = "\n") {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (std::size_t e; (e = s.find(eol, at)) != std::string::npos; at = e + std::strlen(eol))
    out.push_back(s.substr(at, e - at));
  return out;
}

}  // namespace

TEST_CASE("report format: durations and percentages for people") {
  CHECK(human_ms(850) == "850 ms");
  CHECK(human_ms(2592) == "2.6 s");
  CHECK(human_ms(17'400) == "17 s");
  CHECK(human_ms(303'000) == "5 min 03 s");
  CHECK(human_ms(50'537'000) == "14 h 02 min 17 s");
  CHECK(human_ms(2 * kHour) == "2 h");
  CHECK(human_ms(30 * kDay) == "30 days");
  CHECK(human_ms(31 * kDay + kHour) == "31 d 01 h");
  CHECK(human_ms(kDay + 5000) == "1 d 00 h 00 min 05 s");
  // Truncated, never rounded up to a better figure.
  CHECK(percent_text(99.99996, 5.4) == "99.99996 %");
  CHECK(percent_text(99.999996, 5.4) == "99.99999 %");
  CHECK(percent_text(99.9, 3.0) == "99.90 %");
  CHECK(percent_text(100.0, "∞") == "100.00 %");
  CHECK(percent_text(nullptr, nullptr) == "-");
  CHECK(nines_text(4.99) == "4.9");
  CHECK(nines_text("∞") == "∞");
}

TEST_CASE("report format: json is the report itself") {
  TzGuard tz("UTC");
  const json r = scenario_report();
  auto text = render_report(r, "json", false);
  REQUIRE(text.ok());
  CHECK(json::parse(*text) == r);
  CHECK_FALSE(render_report(r, "pdf", false).ok());
}

TEST_CASE("report format: text for the terminal") {
  TzGuard tz("UTC");
  ReportArgs args = scenario_args();
  args.claim = "99.9";
  args.latency_slos = {"10ms:99"};
  const std::string t = render_text(scenario_report(args));
  CHECK_THAT(t, Catch::StartsWith("sanwatch report: db1, by map\n"));
  CHECK_THAT(t, Catch::Contains(
                    "Period    2026-11-01T00:00:00+00:00 .. 2026-11-02T00:00:00+00:00 (1 day)"));
  CHECK_THAT(t, Catch::Contains("measured 21 h of 1 day; unmeasured 3 h in 3 gaps; 3 runs "
                                "(1 ended uncleanly, 1 without an end)"));
  CHECK_THAT(t, Catch::Contains("Claim     99.9 % allows 1 min 26 s in 1 day"));
  CHECK_THAT(t, Catch::Contains("measured 1 h 30 min down: NOT MET"));
  CHECK_THAT(t, Catch::Contains("mpatha  map   3PARdata VV  92.85 %"));
  CHECK_THAT(t, Catch::Contains("<= 10ms  3000  98.50 %"));
  CHECK_THAT(t, Catch::Contains("Incidents (5)"));
  CHECK_THAT(t,
             Catch::Contains("2026-11-01T14:30:00+00:00  2026-11-01T15:00:00+00:00 (agent died)"));
  CHECK_THAT(t, Catch::Contains("not counted"));
  CHECK_THAT(t, Catch::Contains("2026-11-01T23:00:00+00:00  2026-11-02T00:00:00+00:00  1 h"));
}

TEST_CASE("report format: md tables for tickets") {
  TzGuard tz("UTC");
  const std::string md = render_md(scenario_report());
  CHECK_THAT(md, Catch::StartsWith("# sanwatch report: db1\n"));
  CHECK_THAT(md, Catch::Contains(
                     "| TARGET | TYPE | ARRAY | AVAILABILITY | NINES | DOWN | "
                     "UNMEASURED | INCIDENTS |\n|---|---|---|---|---|---|---|---|\n"
                     "| mpatha | map | 3PARdata VV | 92.85 % | 1.1 | 1 h 30 min | 3 h | 3 |\n"));
  CHECK_THAT(md, Catch::Contains("## Incidents (5)"));
  CHECK_THAT(md, Catch::Contains("## Unmeasured time (never counted as up)"));
  CHECK_THAT(md, Catch::Contains("| Down | Down is the union of the impairment spans"));
}

TEST_CASE("report format: csv of incidents, or of targets with --by") {
  TzGuard tz("UTC");
  const json r = scenario_report();
  const auto inc = lines_of(render_csv_incidents(r), "\r\n");
  REQUIRE(inc.size() == 6);
  CHECK(inc[0] ==
        "start,end,start_ms,end_ms,duration_ms,host,target,target_type,array,worst_state,counted,"
        "down_ms_in_period,peak_oldest_ms,max_latency_ms,io_errors,canary_failures,paths,"
        "target_ports,closed_by,array_wide,id");
  CHECK(inc[1] == fmt::format("2026-10-31T23:30:00+00:00,2026-11-01T00:30:00+00:00,{},{},3600000,"
                              "db1,mpatha,map,3PARdata VV,stalled,true,1800000,5010,5016,2,0,"
                              "sdb sdc,0x21000024ff000001,recovered,false,aaaaaaaaaaaa-1",
                              kT0 - 30 * kMin, kT0 + 30 * kMin));
  const auto sum = lines_of(render_csv_summary(r), "\r\n");
  REQUIRE(sum.size() == 3);
  CHECK(sum[0] ==
        "host,target,target_type,wwid,array,measured_ms,unmeasured_ms,down_ms,"
        "availability_percent,nines,incidents,meets_claim,claim_proven");
  CHECK_THAT(sum[1], Catch::StartsWith("db1,mpatha,map,3600mpatha,3PARdata VV,75600000,10800000,"
                                       "5400000,92.857142857142"));
  CHECK_THAT(sum[1], Catch::EndsWith(",3,,"));
  auto via = render_report(r, "csv", true);
  REQUIRE(via.ok());
  CHECK(*via == render_csv_summary(r));
}

TEST_CASE("report format: html comes from the shared renderer") {
  TzGuard tz("UTC");
  auto html = render_report(scenario_report(), "html", false);
  REQUIRE(html.ok());
  CHECK_FALSE(html->empty());
}
