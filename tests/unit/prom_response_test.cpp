// SPDX-License-Identifier: Apache-2.0
// The Prometheus API answer parser (outside input) and the request plan of
// `report --prometheus`: refusals, shapes, selectors, windows.
#include "report/prom_response.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "report/fleet_plan.h"

using namespace sanwatch;

namespace {

const char* kMatrix = R"({"status":"success","data":{"resultType":"matrix","result":[
  {"metric":{"instance":"db1:9442","target":"mpatha","target_type":"map"},
   "values":[[1764842400,"10"],[1764842460.5,"70.25"],[1764842520.123,"NaN"]]},
  {"metric":{},"values":[]}]}})";

std::string error_of(std::string_view body) {
  auto a = parse_prom_answer(body);
  REQUIRE_FALSE(a.ok());
  return a.error().message();
}

}  // namespace

TEST_CASE("prom response: a matrix, a vector and a scalar") {
  auto m = parse_prom_answer(kMatrix);
  REQUIRE(m.ok());
  CHECK(m->result_type == "matrix");
  REQUIRE(m->series.size() == 2);
  CHECK(m->series[0].labels.at("target") == "mpatha");
  REQUIRE(m->series[0].samples.size() == 3);
  CHECK(m->series[0].samples[1].ts_ms == 1764842460500);
  CHECK(m->series[0].samples[1].value == 70.25);
  CHECK(m->series[0].samples[2].ts_ms == 1764842520123);
  CHECK(std::isnan(m->series[0].samples[2].value));
  CHECK(m->series[1].samples.empty());

  auto v = parse_prom_answer(
      R"({"status":"success","data":{"resultType":"vector","result":[)"
      R"({"metric":{"__name__":"up","job":"sanwatch"},"value":[1764842400.001,"+Inf"]}]},)"
      R"("infos":["PromQL info: metric might not be a counter"]})");
  REQUIRE(v.ok());
  REQUIRE(v->series.size() == 1);
  CHECK(v->series[0].labels.at("__name__") == "up");
  CHECK(v->series[0].samples[0].ts_ms == 1764842400001);
  CHECK(std::isinf(v->series[0].samples[0].value));

  auto s = parse_prom_answer(
      R"({"status":"success","data":{"resultType":"scalar","result":[1764842400,"2"]}})");
  REQUIRE(s.ok());
  REQUIRE(s->series.size() == 1);
  CHECK(s->series[0].samples[0].value == 2);

  auto series = parse_prom_series(
      R"({"status":"success","data":[{"__name__":"sanwatch_device_info","array":"3PARdata VV"}]})");
  REQUIRE(series.ok());
  REQUIRE(series->series.size() == 1);
  CHECK(series->series[0].labels.at("array") == "3PARdata VV");
}

TEST_CASE("prom response: errors, warnings and partial answers are refused with the reason") {
  CHECK_THAT(
      error_of(R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})"),
      Catch::Contains("status \"error\"") && Catch::Contains("bad_data") &&
          Catch::Contains("parse error at char 5"));
  // Thanos with partial responses enabled, Prometheus dropping series.
  CHECK_THAT(error_of(R"({"status":"success","warnings":["No StoreAPIs matched for this query"],)"
                      R"("data":{"resultType":"vector","result":[]}})"),
             Catch::Contains("1 warning") && Catch::Contains("No StoreAPIs matched"));
  // VictoriaMetrics.
  CHECK_THAT(error_of(R"({"status":"success","isPartial":true,)"
                      R"("data":{"resultType":"vector","result":[]}})"),
             Catch::Contains("isPartial"));
  // Absent, null or empty warnings and isPartial false are fine.
  for (const char* ok : {R"({"status":"success","warnings":[],"isPartial":false,)"
                         R"("data":{"resultType":"vector","result":[]}})",
                         R"({"status":"success","warnings":null,)"
                         R"("data":{"resultType":"vector","result":[]}})"})
    CHECK(parse_prom_answer(ok).ok());
  CHECK_THAT(error_of(R"({"status":"success","warnings":["x"],"data":[]})"),
             Catch::Contains("warning"));
  CHECK_FALSE(parse_prom_series(R"({"status":"success","warnings":["x"],"data":[]})").ok());
}

TEST_CASE("prom response: anything shaped unlike the API is malformed, never a crash") {
  for (
      const char* bad : {
          "",
          "null",
          "[]",
          "{",
          R"({"status":1})",
          R"({"status":"success"})",
          R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":{}}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[[1]]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[["1","2"]]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"2x"]]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[[1," 2"]]}]}})",
          R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[[1e300,"2"]]}]}})",
          R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"2"]}]}})",
          R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}})",
          R"({"status":"success","warnings":"x","data":{"resultType":"vector","result":[]}})",
          R"({"status":"success","isPartial":"yes","data":{"resultType":"vector","result":[]}})",
      })
    CHECK_THAT(error_of(bad), Catch::Contains("not a Prometheus API answer"));
  // Nesting deeper than any answer: refused, not recursed into.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THAT(error_of(deep), Catch::Contains("nested too deeply"));
  CHECK_THAT(error_of(R"({"status":"success","data":)" + std::string(40, '[') +
                      std::string(40, ']') + "}"),
             Catch::Contains("nested too deeply"));
  CHECK_FALSE(parse_prom_series(R"({"status":"success","data":[{"a":["b"]}]})").ok());
  CHECK_FALSE(parse_prom_series(R"({"status":"success","data":{}})").ok());
  // Embedded NUL bytes and invalid UTF-8 are just bad input.
  CHECK_FALSE(parse_prom_answer(std::string_view("{\"status\":\"succ\0ess\"}", 21)).ok());
  CHECK_FALSE(parse_prom_answer("{\"status\":\"\xff\"}").ok());
}

TEST_CASE("fleet plan: selectors are label matchers, nothing else") {
  CHECK(check_selector("").value() == "");
  CHECK(check_selector("job=\"sanwatch\"").value() == "job=\"sanwatch\"");
  CHECK(check_selector(" {job=\"sanwatch\", instance=~'db.*'} ").value() ==
        "job=\"sanwatch\", instance=~'db.*'");
  CHECK(check_selector("env!=`prod`,dc!~\"a\\\"b\"").value() == "env!=`prod`,dc!~\"a\\\"b\"");
  for (const char* bad :
       {"job", "job=sanwatch", "job=\"x\"} or vector(1) or {a=\"b\"", "job=\"x\" instance=\"y\"",
        "1job=\"x\"", "job=\"x", "job==\"x\"", "job=\"x\",,a=\"b\""})
    CHECK_FALSE(check_selector(bad).ok());
}

TEST_CASE("fleet plan: windows of at most 1440 points, the period's end, strict answers") {
  const std::int64_t t0 = 1764842400000;
  // 2 days and 30 s at 60 s: 2881 steps, the last one 30 s long.
  const StepGrid g = make_grid({t0, t0 + 2 * 86'400'000 + 30'000}, 60'000);
  CHECK(g.steps() == 2881);
  CHECK_FALSE(g.whole());
  CHECK(g.at(2880) == t0 + 2 * 86'400'000);
  CHECK(g.length(2881) == 30'000);
  CHECK(g.index_of(t0 + 120'000) == 2u);
  CHECK(g.index_of(t0 + 2 * 86'400'000 + 30'000) == 2881u);
  CHECK_FALSE(g.index_of(t0 + 1).has_value());

  const FleetParams p{"http://prom:9090", "job=\"sanwatch\"", 60'000};
  const auto reqs = fleet_requests(g, p, {});
  // info, 3 windows (0..1439, 1440..2879, 2880) x 3 queries, 3 instant queries at the end.
  REQUIRE(reqs.size() == 1 + 9 + 3);
  CHECK(reqs[0].path == "/api/v1/series");
  CHECK(reqs[0].promql == "sanwatch_device_info{job=\"sanwatch\"}");
  for (const PromRequest& r : reqs) {
    bool strict = false;
    for (const auto& [k, v] : r.params) strict |= k == "partial_response" && v == "false";
    CHECK(strict);
  }
  const auto param = [](const PromRequest& r, const std::string& key) {
    for (const auto& [k, v] : r.params)
      if (k == key) return v;
    return std::string();
  };
  CHECK(reqs[1].what == FleetWhat::kMeasured);
  CHECK(reqs[1].promql ==
        "sum without (state) (sanwatch_target_state_seconds_total{job=\"sanwatch\"})");
  CHECK(param(reqs[1], "start") == "1764842400.000");
  CHECK(param(reqs[1], "end") == "1764928740.000");
  CHECK(param(reqs[1], "step") == "60.000");
  CHECK(reqs[2].promql == "sanwatch_target_down_seconds_total{job=\"sanwatch\"}");
  CHECK(reqs[3].promql ==
        "max_over_time(sanwatch_state{job=\"sanwatch\",state!=\"ok\"}[59999ms]) > 0");
  CHECK(param(reqs[4], "start") == "1764928800.000");
  CHECK(param(reqs[7], "start") == "1765015200.000");
  CHECK(param(reqs[7], "end") == "1765015200.000");
  CHECK(reqs[10].path == "/api/v1/query");
  CHECK(param(reqs[10], "time") == "1765015230.000");
  CHECK(reqs[12].promql ==
        "max_over_time(sanwatch_state{job=\"sanwatch\",state!=\"ok\"}[29999ms]) > 0");

  // Latency SLOs add the I/O counters; thresholds as the agent labels them.
  const auto slo = parse_latency_slo("10ms:99.9");
  REQUIRE(slo.ok());
  const auto with =
      fleet_requests(make_grid({t0, t0 + 600'000}, 60'000), FleetParams{}, {slo.value()});
  REQUIRE(with.size() == 1 + 5);
  CHECK(with[4].promql == "sum by (instance, device) (sanwatch_io_completed_total{})");
  CHECK(with[5].promql ==
        "sum by (instance, device) "
        "(sanwatch_io_latency_over_threshold_total{threshold_seconds=\"0.01\"})");
  CHECK(threshold_label(1'500'000'000) == "1.5");
  CHECK(threshold_label(100'000) == "0.0001");
}
