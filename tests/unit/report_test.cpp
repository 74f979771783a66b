// SPDX-License-Identifier: Apache-2.0
// `sanwatch report` accounting (agent/report): availability, nines,
// coverage, latency compliance, timelines and incidents from synthetic
// ledgers, against exact figures worked out by hand (report_scenario.h).
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "report/period.h"
#include "report_scenario.h"

using namespace sanwatch;
using namespace sanwatch::test;
using nlohmann::json;

TEST_CASE("report: coverage counts stopped, crashed and running runs, never the gaps") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  const json r = report_of(b, scenario_args());
  CHECK(r["schema"] == "sanwatch.report/v1");
  CHECK(r["period"]["from"] == "2026-11-01T00:00:00+00:00");
  CHECK(r["period"]["from_ms"] == kT0);
  CHECK(r["period"]["length_ms"] == kDay);
  const json& c = r["coverage"];
  CHECK(c["measured_ms"] == 21 * kHour);
  CHECK(c["unmeasured_ms"] == 3 * kHour);
  REQUIRE(c["runs"].size() == 3);
  CHECK(c["runs"][0]["end"] == "stop");
  CHECK(c["runs"][0]["start_ms"] == kT0 - kHour);
  CHECK(c["runs"][1]["end"] == "unclean");
  CHECK(c["runs"][1]["end_ms"] == kT0 + 15 * kHour);
  CHECK(c["runs"][2]["end"] == "open");
  CHECK(c["runs"][2]["end_ms"] == kT0 + 23 * kHour);  // its last alive row
  CHECK(c["gaps"] ==
        json::parse(fmt::format(R"([{{"start_ms":{},"end_ms":{}}},{{"start_ms":{},"end_ms":{}}},)"
                                R"({{"start_ms":{},"end_ms":{}}}])",
                                kT0 + 10 * kHour, kT0 + 11 * kHour, kT0 + 15 * kHour,
                                kT0 + 16 * kHour, kT0 + 23 * kHour, kT0 + 24 * kHour)));
  CHECK(r["hosts"] == json{"db1"});
  CHECK(r["latency_slos_ns"] == json{10'000'000, 100'000'000});
  auto head = b.commit().head(kChainEvents);
  REQUIRE(head.ok());
  CHECK(r["ledger"]["heads"]["events"] == (*head)->hash);
  CHECK(r["ledger"]["path"] == b.path());
}

TEST_CASE("report: rows the agent dropped make their span unmeasured") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  // Run c dropped rows from 18:00 to 18:05 whose times reach back to 17:50.
  b.rows_dropped('c', kT0 + 18 * kHour, kT0 + 18 * kHour + 5 * kMin, kT0 + 17 * kHour + 50 * kMin,
                 kT0 + 18 * kHour + 4 * kMin);
  const json c = report_of(b, scenario_args())["coverage"];
  const std::int64_t lost = 15 * kMin + 1;  // 17:50 to 18:05, the last ms included
  CHECK(c["measured_ms"] == 21 * kHour - lost);
  CHECK(c["unmeasured_ms"] == 3 * kHour + lost);
  REQUIRE(c["gaps"].size() == 4);
  CHECK(c["gaps"][2] == json{{"start_ms", kT0 + 17 * kHour + 50 * kMin},
                             {"end_ms", kT0 + 18 * kHour + 5 * kMin + 1}});
}

TEST_CASE("report: availability and nines per map, exact") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  const json r = report_of(b, scenario_args());
  REQUIRE(r["targets"].size() == 2);  // maps only: sdb is a path
  const json a = target_of(r, "mpatha");
  // 30 min of the edge-spanning stall + 1 h of the open incident of run c;
  // the slow incident does not count.
  CHECK(a["down_ms"] == 90 * kMin);
  CHECK(a["measured_ms"] == 21 * kHour);
  CHECK(a["unmeasured_ms"] == 3 * kHour);
  CHECK(a["incidents"] == 3);
  CHECK(a["array"] == "3PARdata VV");
  CHECK(a["target_type"] == "map");
  CHECK(a["host"] == "db1");
  CHECK(a["availability_percent"].get<double>() ==
        Approx(100.0 * (21 * kHour - 90 * kMin) / (21 * kHour)).epsilon(1e-12));
  CHECK(a["nines"].get<double>() == Approx(std::log10(14.0)).epsilon(1e-12));  // 5.4 / 75.6 = 1/14
  const json bb = target_of(r, "mpathb");
  // 30 min of run b's never-closed stall (to its last sign of life) + 5 min flapping.
  CHECK(bb["down_ms"] == 35 * kMin);
  CHECK(bb["incidents"] == 2);
  CHECK(a["meets_claim"].is_null());
}

TEST_CASE("report: nines are ∞ with nothing down, null with nothing measured") {
  CHECK(availability_percent_json(1000, 0) == 100.0);
  CHECK(nines_json(1000, 0) == "∞");
  CHECK(nines_json(1000, 1) == 3.0);
  CHECK(availability_percent_json(0, 0).is_null());
  CHECK(nines_json(0, 0).is_null());
}

TEST_CASE("report: --count-slow counts slow incidents by their impairment") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  ReportArgs args = scenario_args();
  args.count_slow = true;
  const json r = report_of(b, args);
  CHECK(target_of(r, "mpatha")["down_ms"] == 100 * kMin);
  CHECK(r["rules"]["count_slow"] == true);
  CHECK(r["rules"]["down_states"].back() == "slow");
}

TEST_CASE("report: --by array is the union of its LUNs' down spans") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  ReportArgs args = scenario_args();
  args.by = "array";
  const json r = report_of(b, args);
  REQUIRE(r["targets"].size() == 1);
  const json& t = r["targets"][0];
  CHECK(t["target"] == "3PARdata VV");
  CHECK(t["target_type"] == "array");
  CHECK(t["members"] == json{"mpatha", "mpathb"});
  // 90 + 35 min, but mpathb's 5 min of flapping lie inside mpatha's hour.
  CHECK(t["down_ms"] == 120 * kMin);
  CHECK(t["incidents"] == 5);
}

TEST_CASE("report: two arrays of one model are two arrays, told apart by their id") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  const std::string arr = "3PARdata VV", id1 = "0x2ff70002ac01c4f1", id2 = "0x2ff70002ac0207a3";
  b.start('a', kT0);
  b.minute('a', "mpatha", kT0 + kMin, 100, 0, 0, "map", arr, id1);
  b.minute('a', "mpathb", kT0 + kMin, 100, 0, 0, "map", arr, id2);
  b.incident('a', "aaaaaaaaaaaa-1", "mpathb", "stalled", kT0 + kHour, kT0 + kHour + 2 * kMin, arr,
             "map", "db1", id2);
  b.stop('a', kT0 + 10 * kHour);
  ReportArgs args = scenario_args();
  args.by = "array";
  const json r = report_of(b, args);
  REQUIRE(r["targets"].size() == 2);
  const json& a = target_of(r, arr + " " + id1);
  const json& z = target_of(r, arr + " " + id2);
  CHECK(a["array"] == arr);
  CHECK(a["array_id"] == id1);
  CHECK(a["down_ms"] == 0);
  CHECK(z["array_id"] == id2);
  CHECK(z["members"] == json{"mpathb"});
  CHECK(z["down_ms"] == 2 * kMin);
  CHECK(r["incidents"][0]["array_id"] == id2);
}

TEST_CASE("report: --by path and --by device choose the rows") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  ReportArgs args = scenario_args();
  args.by = "path";
  json r = report_of(b, args);
  REQUIRE(r["targets"].size() == 1);
  CHECK(r["targets"][0]["target"] == "sdb");
  CHECK(r["targets"][0]["down_ms"] == 0);
  CHECK(r["targets"][0]["nines"] == "∞");
  CHECK(r["incidents"].empty());
  args.by = "device";
  r = report_of(b, args);
  CHECK(r["targets"].size() == 3);
  args.by = "map";
  args.targets = {"mpathb"};
  r = report_of(b, args);
  REQUIRE(r["targets"].size() == 1);
  CHECK(r["incidents"].size() == 2);
}

TEST_CASE("report: incidents in time order, clipped, open ones made whole") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  const json r = report_of(b, scenario_args());
  const json& inc = r["incidents"];
  REQUIRE(inc.size() == 5);
  std::vector<std::string> ids;
  for (const auto& i : inc) ids.push_back(i["id"]);
  CHECK(ids == std::vector<std::string>{"aaaaaaaaaaaa-1", "aaaaaaaaaaaa-2", "bbbbbbbbbbbb-1",
                                        "cccccccccccc-1", "cccccccccccc-2"});
  CHECK(inc[0]["down_ms_in_period"] == 30 * kMin);  // 30 of its 60 min lie before the period
  CHECK(inc[0]["impairment"]["duration_ms"] == 60 * kMin);
  CHECK(inc[0]["counted"] == true);
  CHECK(inc[0]["target"] == "mpatha");
  CHECK(inc[0]["paths"] == json{"sdb", "sdc"});
  CHECK(inc[1]["counted"] == false);
  CHECK(inc[1]["down_ms_in_period"] == 0);
  // Run b crashed: its open incident runs to the run's last sign of life.
  CHECK(inc[2]["closed_by"] == "unclean_end");
  CHECK(inc[2]["impairment"]["end_ms"] == kT0 + 15 * kHour);
  CHECK(inc[2]["worst_state"] == "stalled");
  CHECK(inc[2]["ongoing"] == true);
  CHECK(inc[2]["down_ms_in_period"] == 30 * kMin);
  // Run c still runs: slow at first, stalled since; counted to its last row.
  CHECK(inc[3]["closed_by"] == "open");
  CHECK(inc[3]["first_state"] == "slow");
  CHECK(inc[3]["worst_state"] == "stalled");
  CHECK(inc[3]["counted"] == true);
  CHECK(inc[3]["impairment"]["end_ms"] == kT0 + 23 * kHour);
  CHECK(inc[3]["down_ms_in_period"] == kHour);
  CHECK(inc[4]["worst_state"] == "flapping");
  CHECK(inc[4]["down_ms_in_period"] == 5 * kMin);
}

TEST_CASE("report: timeline from state changes, unmeasured between runs") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  const json r = report_of(b, scenario_args());
  const json tl = target_of(r, "mpatha")["timeline"];
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> want{
      {0, 31 * kMin, "stalled"},
      {31 * kMin, 2 * kHour, "ok"},
      {2 * kHour, 2 * kHour + 10 * kMin, "slow"},
      {2 * kHour + 10 * kMin, 10 * kHour, "ok"},
      {10 * kHour, 11 * kHour, "unmeasured"},
      {11 * kHour, 15 * kHour, "ok"},
      {15 * kHour, 16 * kHour, "unmeasured"},
      {16 * kHour, 22 * kHour, "ok"},
      {22 * kHour, 22 * kHour + kMin, "slow"},
      {22 * kHour + kMin, 23 * kHour, "stalled"},
      {23 * kHour, 24 * kHour, "unmeasured"}};
  REQUIRE(tl.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("segment " << i);
    CHECK(tl[i]["start_ms"] == kT0 + std::get<0>(want[i]));
    CHECK(tl[i]["end_ms"] == kT0 + std::get<1>(want[i]));
    CHECK(tl[i]["state"] == std::get<2>(want[i]));
  }
}

TEST_CASE("report: latency compliance per threshold, exact") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  ReportArgs args = scenario_args();
  args.latency_slos = {"10ms:99", "100ms:99.9"};
  const json r = report_of(b, args);
  const json l = target_of(r, "mpatha")["latency"];
  REQUIRE(l.size() == 2);
  // Minutes in the period with I/O: 1000 (5 over 10 ms), 2000 (40 over);
  // the one before the period and the idle one do not count.
  CHECK(l[0]["threshold_ns"] == 10'000'000);
  CHECK(l[0]["ios"] == 3000);
  CHECK(l[0]["ios_over"] == 45);
  CHECK(l[0]["share_under_percent"] == 98.5);
  CHECK(l[0]["minutes"] == 2);
  CHECK(l[0]["minutes_met"] == 1);  // 99.5 % yes, 98 % no
  CHECK(l[0]["minutes_met_percent"] == 50.0);
  CHECK(l[0]["met"] == false);
  CHECK(l[0]["target_percent"] == 99.0);
  CHECK(l[1]["ios_over"] == 1);
  CHECK(l[1]["share_under_percent"].get<double>() == Approx(100.0 * 2999 / 3000).epsilon(1e-12));
  CHECK(l[1]["minutes_met"] == 2);  // 1 of 2000 over: 99.95 % ≥ 99.9 %, exactly decided
  CHECK(l[1]["met"] == true);
  const json none = target_of(r, "mpathb")["latency"];
  CHECK(none[0]["ios"] == 0);
  CHECK(none[0]["share_under_percent"].is_null());
  CHECK(none[0]["met"].is_null());
}

TEST_CASE("report: a --latency-slo threshold the ledger does not record is a clear error") {
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  ReportArgs args = scenario_args();
  args.latency_slos = {"20ms:99"};
  try {
    report_of(b, args);
    FAIL("accepted an unrecorded threshold");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("20ms is not a threshold this ledger records"));
    CHECK_THAT(msg, Catch::Contains("recorded: 10ms, 100ms"));
  }
}

TEST_CASE("report: a claim allows (1 - P/100) of the period, exactly") {
  auto p = parse_percent("99.9999");
  REQUIRE(p.ok());
  CHECK(p->complement_of(30 * kDay) == 2592);  // 2.6 s in 30 days
  CHECK(p->value() == 99.9999);
  CHECK(parse_percent("100").value().complement_of(kDay) == 0);
  CHECK_FALSE(parse_percent("100.5").ok());
  CHECK_FALSE(parse_percent("-1").ok());
  CHECK_FALSE(parse_percent("abc").ok());
  TzGuard tz("UTC");
  LedgerBuilder b;
  build_scenario(b);
  ReportArgs args = scenario_args();
  args.claim = "99.9";
  const json r = report_of(b, args);
  CHECK(r["claim"]["allowed_down_ms"] == 86'400);
  CHECK(r["claim"]["percent"] == 99.9);
  CHECK(target_of(r, "mpatha")["meets_claim"] == false);
  // Nothing down on sdb, but 3 h unmeasured: met on measured time, not proven.
  args.by = "path";
  const json p2 = report_of(b, args);
  CHECK(p2["targets"][0]["meets_claim"] == true);
  CHECK(p2["targets"][0]["claim_proven"] == false);
}

TEST_CASE("report: --month across a DST change in the local zone (Europe/Paris)") {
  TzGuard tz("Europe/Paris");
  LedgerBuilder b;
  const std::int64_t from = 1790805600000;  // 2026-09-30T22:00Z = 2026-10-01T00:00+02:00
  const std::int64_t to = 1793487600000;    // 2026-10-31T23:00Z = 2026-11-01T00:00+01:00
  b.start('a', from - kDay);
  // One hour on the night clocks go back: 02:30 CEST .. 02:30 CET.
  const std::int64_t s = 1792888200000;  // 2026-10-25T00:30Z
  b.incident('a', "aaaaaaaaaaaa-1", "mpatha", "stalled", s, s + kHour);
  b.stop('a', to + kDay);
  ReportArgs args;
  args.month = "2026-10";
  const json r = report_of(b, args);
  CHECK(r["period"]["from_ms"] == from);
  CHECK(r["period"]["to_ms"] == to);
  CHECK(r["period"]["from"] == "2026-10-01T00:00:00+02:00");
  CHECK(r["period"]["to"] == "2026-11-01T00:00:00+01:00");
  CHECK(r["period"]["length_ms"] == 31 * kDay + kHour);
  CHECK(r["coverage"]["measured_ms"] == 31 * kDay + kHour);
  CHECK(target_of(r, "mpatha")["down_ms"] == kHour);
  CHECK(format_local(s) == "2026-10-25T02:30:00+02:00");
  CHECK(format_local(s + kHour) == "2026-10-25T02:30:00+01:00");
}

TEST_CASE("report: times typed by people, local or with an offset") {
  TzGuard tz("Europe/Paris");
  CHECK(parse_time("2026-11-01").value() == 1793491200000 - kHour);
  CHECK(parse_time("2026-11-01T10:00:00+01:00").value() == 1793491200000 + 9 * kHour);
  CHECK(parse_time("2026-11-01 10:00").value() == 1793491200000 + 9 * kHour);
  CHECK(parse_time("2026-11-01T10:00:00.250Z").value() == 1793491200000 + 10 * kHour + 250);
  // 02:30 happens twice on 2026-10-25: the first (CEST) is taken.
  CHECK(parse_time("2026-10-25 02:30").value() == 1792888200000);
  // 02:30 does not exist on 2026-03-29: read with the offset before (CET).
  CHECK(format_local(parse_time("2026-03-29T02:30").value()) == "2026-03-29T03:30:00+02:00");
  for (const char* bad : {"2026-13-01", "2026-02-30", "yesterday", "2026-11-01T25:00",
                          "2026-11-01T10:00+1", "2026-11-01x"}) {
    INFO(bad);
    CHECK_FALSE(parse_time(bad).ok());
  }
  TzGuard ny("America/New_York");
  auto m = month_period("2026-03");  // DST begins 2026-03-08
  REQUIRE(m.ok());
  CHECK(m->from_ms == 1772341200000);  // 2026-03-01T05:00Z
  CHECK(m->to_ms == 1775016000000);    // 2026-04-01T04:00Z
  CHECK(m->length_ms() == 31 * kDay - kHour);
  CHECK_FALSE(month_period("2026-3").ok());
  auto last = last_period("30d", 40 * kDay);
  REQUIRE(last.ok());
  CHECK(last->from_ms == 10 * kDay);
  CHECK_FALSE(last_period("30x", 0).ok());
}

TEST_CASE("report: period options are checked") {
  ReportArgs a;
  a.month = "2026-10";
  a.last = "7d";
  CHECK_FALSE(make_options(a, 0).ok());
  a = ReportArgs{};
  a.to = "2026-10-01";
  CHECK_FALSE(make_options(a, 0).ok());
  a = ReportArgs{};
  a.from = "2026-10-02T";
  CHECK_FALSE(make_options(a, 0).ok());
  a = ReportArgs{};
  a.latency_slos = {"10ms"};
  CHECK_FALSE(make_options(a, 0).ok());
  a = ReportArgs{};  // the default: the last 30 days
  auto o = make_options(a, 40 * kDay);
  REQUIRE(o.ok());
  CHECK(o->period.from_ms == 10 * kDay);
  CHECK(o->by == "map");
}

TEST_CASE("report: span arithmetic behind down and coverage") {
  const Spans a = normalize({{10, 20}, {15, 30}, {40, 40}, {30, 35}, {50, 60}});
  CHECK(a == Spans{{10, 35}, {50, 60}});  // touching spans merge, empty ones go
  CHECK(total_length(a) == 35);
  CHECK(intersect(a, Spans{{0, 12}, {34, 55}}) == Spans{{10, 12}, {34, 35}, {50, 55}});
  CHECK(subtract({0, 100}, a) == Spans{{0, 10}, {35, 50}, {60, 100}});
  CHECK(subtract({20, 55}, a) == Spans{{35, 50}});
  // Down on two hosts at once: 15..20 and 25..30.
  CHECK(at_least(2, {Spans{{10, 20}, {25, 40}}, Spans{{15, 30}}}) == Spans{{15, 20}, {25, 30}});
  CHECK(at_least(2, {Spans{{10, 20}}, Spans{{20, 30}}}).empty());  // touching is not overlapping
}
