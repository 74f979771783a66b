// SPDX-License-Identifier: Apache-2.0
// `sanwatch report --prometheus` without a Prometheus: canned API answers
// (a fake that answers each planned request from series given per grid
// point) through FleetData into the report JSON and its renderings.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "report/fleet_plan.h"
#include "report/fleet_report.h"
#include "report/fleet_series.h"
#include "report/format.h"
#include "report/merge.h"
#include "report_test_util.h"

using namespace sanwatch;
using namespace sanwatch::test;
using nlohmann::json;

namespace {

constexpr std::int64_t kT = 1764842400000;  // 2025-12-04T10:00:00Z

std::string param(const PromRequest& r, const std::string& key) {
  for (const auto& [k, v] : r.params)
    if (k == key) return v;
  return {};
}

std::int64_t param_ms(const PromRequest& r, const std::string& key) {
  return std::llround(std::stod(param(r, key)) * 1000);
}

// Answers the plan's requests from series given as values at grid points.
class FakeProm {
 public:
  explicit FakeProm(StepGrid g) : g_(g) {}
  void info(json labels) { info_.push_back(std::move(labels)); }
  void add(FleetWhat w, json labels, std::map<std::size_t, double> at, std::size_t slo = 0) {
    series_[{w, slo}].push_back({std::move(labels), std::move(at)});
  }
  std::string answer(const PromRequest& r) const {
    if (r.what == FleetWhat::kInfo) return json{{"status", "success"}, {"data", info_}}.dump();
    const bool range = r.path == "/api/v1/query_range";
    const std::int64_t a = range ? param_ms(r, "start") : param_ms(r, "time");
    const std::int64_t z = range ? param_ms(r, "end") : a;
    json result = json::array();
    const auto it = series_.find({r.what, r.slo});
    for (const auto& [labels, at] : it == series_.end() ? List{} : it->second) {
      json values = json::array();
      for (const auto& [k, v] : at)
        if (g_.at(k) >= a && g_.at(k) <= z)
          values.push_back({static_cast<double>(g_.at(k)) / 1000.0, fmt::format("{}", v)});
      if (values.empty()) continue;
      result.push_back(range ? json{{"metric", labels}, {"values", values}}
                             : json{{"metric", labels}, {"value", values[0]}});
    }
    return json{{"status", "success"},
                {"data", {{"resultType", range ? "matrix" : "vector"}, {"result", result}}}}
        .dump();
  }

 private:
  using List = std::vector<std::pair<json, std::map<std::size_t, double>>>;
  StepGrid g_;
  json info_ = json::array();
  std::map<std::pair<FleetWhat, std::size_t>, List> series_;
};

json target(const char* instance, const char* name, const char* type = "map") {
  return {{"instance", instance}, {"job", "sanwatch"}, {"target", name}, {"target_type", type}};
}

json with(json l, const json& more) {
  l.update(more);
  return l;
}

// Values v0 + per·k for k in [a, b].
std::map<std::size_t, double> ramp(std::size_t a, std::size_t b, double v0, double per) {
  std::map<std::size_t, double> m;
  for (std::size_t k = a; k <= b; ++k) m[k] = v0 + per * static_cast<double>(k - a);
  return m;
}

// Two hosts, ten one-minute steps (docs in the test case below).
FakeProm two_hosts(const StepGrid& g) {
  FakeProm p(g);
  const json parr = {{"array", "3PARdata VV"}, {"array_id", "2FF70002AC01F1A5"}};
  p.info(with(target("db1:9442", "mpatha"), with(parr, {{"device", "dm-0"}, {"wwid", "360a"}})));
  p.info(with(target("db1:9442", "sdb", "path"), with(parr, {{"device", "sdb"}})));
  p.info(with(target("db2:9442", "mpathq"), with(parr, {{"device", "dm-3"}})));
  p.info(with(target("db2:9442", "mpathn"),
              {{"device", "dm-4"}, {"array", "NETAPP LUN"}, {"array_id", ""}}));
  // db1 restarts 30 s before t6: its counters reset.
  auto db1 = ramp(0, 5, 5000, 60);
  for (const auto& [k, v] : ramp(6, 10, 30, 60)) db1[k] = v;
  p.add(FleetWhat::kMeasured, target("db1:9442", "mpatha"), db1);
  p.add(FleetWhat::kMeasured, target("db1:9442", "sdb", "path"), db1);
  auto q = ramp(0, 10, 100, 60);  // db2's scrapes at t7 and t8 are missing
  q.erase(7);
  q.erase(8);
  p.add(FleetWhat::kMeasured, target("db2:9442", "mpathq"), q);
  p.add(FleetWhat::kMeasured, target("db2:9442", "mpathn"), q);
  p.add(FleetWhat::kDown, target("db1:9442", "mpatha"),
        {{0, 7}, {1, 7}, {2, 7}, {3, 11}, {4, 11}, {5, 11}, {6, 0}, {7, 0}, {9, 0}, {10, 0}});
  p.add(FleetWhat::kDown, target("db1:9442", "sdb", "path"), ramp(0, 10, 0, 0));
  p.add(FleetWhat::kDown, target("db2:9442", "mpathq"),
        {{0, 0}, {1, 0}, {2, 0}, {3, 2}, {4, 3}, {5, 3}, {6, 3}, {9, 3}, {10, 3}});
  p.add(FleetWhat::kDown, target("db2:9442", "mpathn"),
        {{0, 0}, {6, 0}, {8, 10}, {9, 10}, {10, 10}});
  p.add(FleetWhat::kStates, with(target("db1:9442", "mpatha"), {{"state", "stalled"}}), {{3, 1}});
  p.add(FleetWhat::kStates, with(target("db2:9442", "mpathq"), {{"state", "stalled"}}),
        {{3, 1}, {4, 1}});
  p.add(FleetWhat::kStates, with(target("db2:9442", "mpathq"), {{"state", "slow"}}), {{5, 1}});
  p.add(FleetWhat::kStates, with(target("db2:9442", "mpathn"), {{"state", "failed"}}), {{8, 1}});
  return p;
}

const FleetParams kParams{"http://prom:9090", "job=\"sanwatch\"", 60'000};

Result<json> fleet_report(const FakeProm& prom, const StepGrid& g, ReportArgs a) {
  auto o = make_options(a, kT + kDay);
  REQUIRE(o.ok());
  FleetData d(g, o->slos.size());
  for (const PromRequest& r : fleet_requests(g, kParams, o->slos)) {
    auto st = d.add(r, prom.answer(r));
    REQUIRE(st.ok());
  }
  return build_fleet_report(d, *o, kParams);
}

ReportArgs period_args(const char* to = "2025-12-04T10:10:00Z") {
  ReportArgs a;
  a.from = "2025-12-04T10:00:00Z";
  a.to = to;
  return a;
}

const json& find(const json& list, const std::string& key, const std::string& value) {
  for (const json& x : list)
    if (x.value(key, "") == value) return x;
  FAIL("no " << key << " " << value << " in " << list.dump());
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("fleet counters: deltas from raw samples, carries, gaps, resets, first samples") {
  const StepGrid g = make_grid({kT, kT + 5 * kMin}, kMin);
  StepCounter jitter(g, 1000, true);
  for (auto [k, v] : {std::pair{0, 1000.0}, {1, 1060.4}, {2, 1119.8}, {3, 1180.0}})
    jitter.add(g, k, v);
  CHECK(jitter.steps()[1] == 60'000);  // 60.4 s: the 0.4 s carries on
  CHECK(jitter.steps()[2] == 59'800);
  CHECK(jitter.steps()[3] == 60'000);
  jitter.add(g, 2, 5000);  // out of order: ignored
  CHECK(jitter.total() == 179'800);

  StepCounter first(g, 1000, true);  // appears at t3 with 100 s: started 100 s before
  first.add(g, 3, 100);
  CHECK(first.steps() == std::vector<std::int64_t>{0, 0, 40'000, 60'000, 0, 0});
  StepCounter old(g, 1000, true);  // appears at t3 with more than the period so far: a base
  old.add(g, 3, 10'000);
  old.add(g, 4, 10'060);
  CHECK(old.steps() == std::vector<std::int64_t>{0, 0, 0, 0, 60'000, 0});
  StepCounter reset(g, 1000, true);
  for (auto [k, v] : {std::pair{0, 500.0}, {1, 560.0}, {2, 20.0}, {5, 140.0}}) reset.add(g, k, v);
  CHECK(reset.steps() == std::vector<std::int64_t>{0, 60'000, 20'000, 0, 60'000, 60'000});
  StepCounter counts(g, 1, false);  // I/O counts: no cap, no carry
  for (auto [k, v] : {std::pair{0, 10.0}, {1, 1e6}, {2, NAN}, {3, 5.0}}) counts.add(g, k, v);
  CHECK(counts.steps() == std::vector<std::int64_t>{0, 999'990, 0, 5, 0, 0});
}

TEST_CASE("fleet report: two hosts, one array, overlapping down time, a restart and a gap") {
  TzGuard tz("UTC");
  const StepGrid g = make_grid({kT, kT + 10 * kMin}, kMin);
  ReportArgs a = period_args();
  a.claim = "99.9";
  auto r = fleet_report(two_hosts(g), g, a);
  REQUIRE(r.ok());
  INFO(r->dump(1));
  CHECK((*r)["schema"] == "sanwatch.report/v1");
  CHECK((*r)["hosts"] == json{"db1:9442", "db2:9442"});
  CHECK((*r)["source"]["kind"] == "prometheus");
  CHECK((*r)["source"]["url"] == "http://prom:9090");
  CHECK((*r)["source"]["note"] == "cross-check of the per-host ledgers");
  CHECK((*r)["source"]["step_ms"] == kMin);
  CHECK((*r)["claim"]["allowed_down_ms"] == 600);
  CHECK((*r)["coverage"]["measured_ms"] == 10 * kMin);
  CHECK((*r)["coverage"]["measured_ms_by_host"]["db1:9442"] == 10 * kMin - 30'000);

  // Per target (maps and plain devices by default): sums of the steps.
  const json& t = (*r)["targets"];
  REQUIRE(t.size() == 3);
  const json& a1 = find(t, "target", "mpatha");
  CHECK(a1["host"] == "db1:9442");
  CHECK(a1["array_id"] == "2FF70002AC01F1A5");
  CHECK(a1["measured_ms"] == 10 * kMin - 30'000);  // down 30 s before its restart
  CHECK(a1["unmeasured_ms"] == 30'000);
  CHECK(a1["down_ms"] == 4000);  // 7 -> 11 s; the reset to 0 adds nothing
  CHECK(a1["incidents"] == 1);
  CHECK(a1["meets_claim"] == false);
  CHECK(a1["timeline"] == json::parse(R"([
    {"start_ms":1764842400000,"end_ms":1764842520000,"state":"ok"},
    {"start_ms":1764842520000,"end_ms":1764842580000,"state":"stalled"},
    {"start_ms":1764842580000,"end_ms":1764843000000,"state":"ok"}])"));
  const json& q = find(t, "target", "mpathq");
  CHECK(q["measured_ms"] == 10 * kMin);  // the scrape gap is filled by the next delta
  CHECK(q["down_ms"] == 3000);

  // Per array across hosts: per step the most any LUN on any host was down.
  const json& arrays = (*r)["arrays"];
  REQUIRE(arrays.size() == 2);
  const json& par = find(arrays, "array", "3PARdata VV");
  CHECK(par["hosts"] == json{"db1:9442", "db2:9442"});
  CHECK(par["members"] == json{"db1:9442:mpatha", "db2:9442:mpathq"});
  CHECK(par["measured_ms"] == 10 * kMin);  // db2 measured while db1 restarted
  CHECK(par["down_ms"] == 5000);           // max(4, 2) s in step 3, 1 s in step 4
  CHECK(par["array_wide_down_ms"] == 2000);
  CHECK(par["incidents"] == 2);
  CHECK(par["array_wide_incidents"] == 2);
  CHECK(par["availability_percent"].get<double>() == Approx(100.0 * (1 - 5.0 / 600.0)));
  const json& net = find(arrays, "array", "NETAPP LUN");
  CHECK(net["down_ms"] == 10'000);
  CHECK(net["array_wide_incidents"] == 0);

  // Incidents: runs of steps with down time, at step resolution.
  const json& inc = (*r)["incidents"];
  REQUIRE(inc.size() == 3);
  CHECK(inc[0]["target"] == "mpatha");
  CHECK(inc[0]["basis"] == "prometheus");
  CHECK(inc[0]["impairment"]["start_ms"] == kT + 2 * kMin);
  CHECK(inc[0]["impairment"]["end_ms"] == kT + 3 * kMin);
  CHECK(inc[0]["down_ms_in_period"] == 4000);
  CHECK(inc[0]["worst_state"] == "stalled");
  CHECK(inc[0]["hosts"] == json{"db1:9442", "db2:9442"});
  CHECK(inc[0]["array_wide"] == true);
  CHECK(inc[1]["target"] == "mpathq");
  CHECK(inc[1]["impairment"]["end_ms"] == kT + 4 * kMin);
  CHECK(inc[1]["closed_by"] == "recovered");
  CHECK(inc[2]["target"] == "mpathn");
  CHECK(inc[2]["worst_state"] == "failed");
  CHECK(inc[2]["array_wide"] == false);
}

TEST_CASE("fleet report: --by, --target, a period that is not whole steps") {
  TzGuard tz("UTC");
  const StepGrid g = make_grid({kT, kT + 9 * kMin + 30'000}, kMin);
  ReportArgs a = period_args("2025-12-04T10:09:30Z");
  a.by = "device";
  FakeProm p = two_hosts(g);
  p.add(FleetWhat::kMeasured, target("db1:9442", "sdx", "device"), {{0, 0}, {10, 570}});
  p.info(target("db1:9442", "sdz", "device"));  // no array identity: a row, not an array
  p.add(FleetWhat::kMeasured, target("db1:9442", "sdz", "device"), ramp(0, 10, 0, 60));
  auto r = fleet_report(p, g, a);
  REQUIRE(r.ok());
  CHECK((*r)["targets"].size() == 6);  // paths too
  CHECK((*r)["arrays"].size() == 2);
  CHECK(find((*r)["targets"], "target", "sdz")["array"] == "");
  CHECK(find((*r)["targets"], "target", "sdb")["target_type"] == "path");
  // 0 at t0, 570 s at t10 = to (the instant query): the 9.5 min are filled.
  CHECK(find((*r)["targets"], "target", "sdx")["measured_ms"] == 570'000);
  a.by = "array";
  a.targets = {"2FF7*"};
  auto arr = fleet_report(p, g, a);
  REQUIRE(arr.ok());
  REQUIRE((*arr)["targets"].size() == 1);
  CHECK((*arr)["targets"][0]["target"] == "3PARdata VV 2FF70002AC01F1A5");
  CHECK((*arr)["targets"][0]["target_type"] == "array");
  CHECK((*arr)["arrays"].size() == 1);
  CHECK((*arr)["incidents"].size() == 2);
}

TEST_CASE("fleet report: latency compliance per step from the exact counters") {
  TzGuard tz("UTC");
  const StepGrid g = make_grid({kT, kT + 10 * kMin}, kMin);
  FakeProm p = two_hosts(g);
  const json dm0 = {{"instance", "db1:9442"}, {"device", "dm-0"}};
  p.add(FleetWhat::kIos, dm0, ramp(0, 5, 0, 1000));  // 1000 I/Os a step, steps 1-5
  p.add(FleetWhat::kOver, dm0, {{0, 0}, {1, 0}, {2, 0}, {3, 100}, {4, 100}, {5, 100}}, 0);
  ReportArgs a = period_args();
  a.latency_slos = {"10ms:99"};
  auto r = fleet_report(p, g, a);
  REQUIRE(r.ok());
  const json& l = find((*r)["targets"], "target", "mpatha")["latency"][0];
  CHECK(l["ios"] == 5000);
  CHECK(l["ios_over"] == 100);
  CHECK(l["minutes"] == 5);
  CHECK(l["minutes_met"] == 4);
  CHECK(l["met"] == false);  // 4900 of 5000 under 10 ms: 98 % < 99 %
}

TEST_CASE("fleet report: refuses partial answers, warnings and ambiguous series") {
  const StepGrid g = make_grid({kT, kT + 10 * kMin}, kMin);
  const auto reqs = fleet_requests(g, kParams, {});
  FleetData d(g, 0);
  auto st = d.add(reqs[1], R"({"status":"success","warnings":["partial response: store down"],)"
                           R"("data":{"resultType":"matrix","result":[]}})");
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("warning") &&
                                       Catch::Contains("partial response: store down") &&
                                       Catch::Contains("sanwatch_target_state_seconds_total"));
  const json twice = {
      {"status", "success"},
      {"data",
       {{"resultType", "matrix"},
        {"result",
         {{{"metric", target("db1:9442", "mpatha")}, {"values", {{1764842400, "1"}}}},
          {{"metric", with(target("db1:9442", "mpatha"), {{"job", "other"}})},
           {"values", {{1764842400, "1"}}}}}}}}};
  st = d.add(reqs[1], twice.dump());
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message(), Catch::Contains("two series") && Catch::Contains("--selector"));
  // A --latency-slo threshold no agent exports.
  ReportArgs a = period_args();
  a.latency_slos = {"5ms:99"};
  auto o = make_options(a, kT + kDay);
  REQUIRE(o.ok());
  FleetData none(g, 1);
  auto r = build_fleet_report(none, *o, kParams);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("threshold_seconds=\"0.005\""));
}

TEST_CASE("fleet report: every format says it is a cross-check of the ledgers") {
  TzGuard tz("UTC");
  const StepGrid g = make_grid({kT, kT + 10 * kMin}, kMin);
  auto r = fleet_report(two_hosts(g), g, period_args());
  REQUIRE(r.ok());
  const std::string text = render_text(*r);
  CHECK_THAT(text, Catch::Contains("by map (fleet)"));
  CHECK_THAT(text, Catch::Contains("Source    Prometheus http://prom:9090 {job=\"sanwatch\"}, "
                                   "step 1 min: cross-check of the per-host ledgers"));
  CHECK_THAT(text, Catch::Contains("3PARdata VV 2FF70002AC01F1A5"));
  CHECK_THAT(text, Catch::Contains("db1:9442:mpatha"));
  CHECK_THAT(render_md(*r), Catch::Contains("| Source | Prometheus http://prom:9090"));
  const std::string csv = render_csv_incidents(*r);
  CHECK_THAT(csv, Catch::Contains("prometheus:db1:9442:mpatha:1764842520000"));
  auto html = render_report(*r, "html", false);
  REQUIRE(html.ok());
  CHECK_THAT(*html, Catch::Contains("cross-check of the per-host ledgers"));
  // Already across hosts: not something to merge.
  auto merged = merge_reports({{"fleet.json", *r}}, kT);
  REQUIRE_FALSE(merged.ok());
  CHECK_THAT(merged.error().message(), Catch::Contains("from Prometheus"));
  CHECK_THAT(*html,
             Catch::Contains("sanwatch_target_down_seconds_total{job=&quot;sanwatch&quot;}"));
}
