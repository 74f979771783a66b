// SPDX-License-Identifier: Apache-2.0
#include "cli/hist_report.h"

#include <catch2/catch.hpp>

using namespace sanwatch;

namespace {

HistReport sample_report() {
  HistEntry e;
  e.device = "sda";
  e.partition = "sda1";
  e.op = "read";
  for (int i = 0; i < 90; ++i) e.stats.total.record(1'000'000);   // 1 ms
  for (int i = 0; i < 10; ++i) e.stats.total.record(50'000'000);  // 50 ms
  e.stats.count = 100;
  e.stats.bytes = 100 * 4096;
  e.stats.total_ns_sum = 90 * 1'000'000ull + 10 * 50'000'000ull;
  e.stats.max_total_ns = 50'123'000;
  e.stats.errors[10] = 2;  // BLK_STS_IOERR
  e.inflight_oldest_s = 1.5;
  return HistReport{"2026-11-23T00:00:00.000000Z", 2.0, false, {e}};
}

}  // namespace

TEST_CASE("JSON report carries the contract fields") {
  const auto j = report_json(sample_report());
  REQUIRE(j["histograms"].size() == 1);
  const auto& h = j["histograms"][0];
  CHECK(h["device"] == "sda");
  CHECK(h["partition"] == "sda1");
  CHECK(h["op"] == "read");
  CHECK(h["count"] == 100);
  CHECK(h["iops"].get<double>() == Approx(50.0));
  CHECK(h["p50_s"].get<double>() == Approx(0.001).epsilon(0.125));
  CHECK(h["p99_s"].get<double>() == Approx(0.050).epsilon(0.125));
  CHECK(h["max_s"].get<double>() == Approx(0.050123));
  CHECK(h["inflight_oldest_s"].get<double>() == Approx(1.5));
  CHECK(h["errors"]["ioerr"] == 2);
  REQUIRE(h["buckets"].size() == 2);
  std::uint64_t total = 0;
  double prev = 0;
  for (const auto& b : h["buckets"]) {
    CHECK(b["le_s"].get<double>() > prev);
    prev = b["le_s"].get<double>();
    total += b["count"].get<std::uint64_t>();
  }
  CHECK(total == 100);
  CHECK(j["interval_s"] == 2.0);
  CHECK(j["latency"] == "total");
}

TEST_CASE("text report shows bars, percentiles, partition and outstanding age") {
  const std::string t = report_text(sample_report());
  CHECK(t.find("sda read") != std::string::npos);
  CHECK(t.find("sda1 is a partition of sda") != std::string::npos);
  CHECK(t.find("|****************************************|") != std::string::npos);  // the 1 ms row
  CHECK(t.find("count 100") != std::string::npos);
  CHECK(t.find("IOPS 50.0") != std::string::npos);
  CHECK(t.find("max 50.1ms") != std::string::npos);
  CHECK(t.find("errors 2") != std::string::npos);
  CHECK(t.find("oldest outstanding I/O 1.5s") != std::string::npos);
}

TEST_CASE("an idle device reports zeros, not garbage") {
  HistReport r{"t", 1.0, true, {HistEntry{"loop3", "", "", "all", {}, 0}}};
  const auto h = report_json(r)["histograms"][0];
  CHECK(h["count"] == 0);
  CHECK(h["p99_s"] == 0.0);
  CHECK(h["max_s"] == 0.0);
  CHECK(h["buckets"].empty());
  CHECK(report_text(r).find("nothing outstanding") != std::string::npos);
}

TEST_CASE("human durations pick the unit") {
  CHECK(human_duration(0.00125) == "1.25ms");
  CHECK(human_duration(0.000980) == "980us");
  CHECK(human_duration(2.5) == "2.5s");
  CHECK(human_duration(0) == "0");
}

TEST_CASE("percentiles never exceed the largest latency seen") {
  // Every read took 50.0-50.2 ms: interpolating inside the bucket that holds
  // them would put p99 past the maximum the kernel measured.
  HistEntry e;
  e.device = "sda";
  e.op = "read";
  for (int i = 0; i < 20; ++i) e.stats.total.record(50'000'000 + i * 10'000);
  e.stats.count = 20;
  e.stats.max_total_ns = 50'190'000;
  const Summary s = summarize(e, 1.0, false);
  CHECK(s.p99_s <= s.max_s);
  CHECK(s.p999_s <= s.max_s);
  CHECK(s.p50_s <= s.max_s);
  CHECK(s.p50_s >= 0.045);
  // Without a known maximum the bucket estimate stands.
  e.stats.max_total_ns = 0;
  CHECK(summarize(e, 1.0, false).p99_s > 0.050190);
}

TEST_CASE("hist names what was outstanding when tracing started") {
  CHECK(start_outstanding_text({"sdb", 0, 0, true, ""}) ==
        "sdb: nothing outstanding when tracing started\n");
  CHECK(start_outstanding_text({"sdb", 2, 4.25, true, ""}) ==
        "sdb: 2 I/Os outstanding when tracing started, oldest 4.25s\n");
  CHECK(start_outstanding_text({"dm-3", 1, 0, false, "bio-based queue: no tag tables to walk"}) ==
        "dm-3: 1 I/O outstanding since before tracing started, age unknown (bio-based queue: no "
        "tag tables to walk): counting from now\n");
}

TEST_CASE("a lower-bound age is shown as one") {
  HistReport r{"t", 1.0, false, {}};
  HistEntry e;
  e.device = "dm-3";
  e.op = "all";
  e.inflight_oldest_s = 2.5;
  e.inflight_at_least = true;
  e.preexisting = 3;
  r.entries.push_back(e);
  CHECK(report_text(r).find("oldest outstanding I/O >= 2.5s (3 from before tracing started)") !=
        std::string::npos);
  const auto j = report_json(r)["histograms"][0];
  CHECK(j["inflight_oldest_at_least"] == true);
  CHECK(j["inflight_preexisting"] == 3);
  CHECK(j["outstanding_at_start"] == 0);
}
