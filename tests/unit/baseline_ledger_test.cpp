// SPDX-License-Identifier: Apache-2.0
// The baseline's side of the ledger: the `lat` field of minute and hour
// rows, the latency_hours cache kept beside the chains (and rebuilt from
// them), `baseline` rows, and the writer thread handing history over.
#include <catch2/catch.hpp>
#include <thread>

#include "ledger/compaction.h"
#include "ledger/lat_field.h"
#include "ledger/latency_hours.h"
#include "ledger/ledger_store.h"
#include "ledger/ledger_writer.h"
#include "ledger/recorder.h"
#include "test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kH = 1764842400000;  // 2025-12-04T10:00:00Z, an hour boundary
constexpr std::int64_t kMin = 60'000, kHour = 3'600'000;

LatencyHistogram hist(std::initializer_list<std::pair<std::uint64_t, std::uint64_t>> ns_n) {
  LatencyHistogram h;
  for (auto [ns, n] : ns_n) h.record(ns, n);
  return h;
}

LedgerRow minute_row(std::int64_t at, const std::string& target, const LatencyHistogram& h) {
  return LedgerRow{kChainMinutes, 0,
                   "minute",      at,
                   target,        {{"minute_ms", at}, {"ios", h.total()}, {"lat", lat_json(h)}}};
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("lat: [[upper_ns, count], ...] ascending, and back into the same buckets") {
  const LatencyHistogram h = hist({{500, 1}, {1'000'000, 10}, {2'500'000, 3}, {1ull << 40, 1}});
  const auto j = lat_json(h);
  REQUIRE(j.size() == 4);
  CHECK(j[0] == nlohmann::json{1024, 1});
  CHECK(j[1][0].get<std::uint64_t>() > 1'000'000);
  CHECK(j[1][1] == 10);
  for (std::size_t i = 1; i < j.size(); ++i) CHECK(j[i][0] > j[i - 1][0]);
  const LatencyHistogram back = lat_from_json(j);
  CHECK(back.counts() == h.counts());
  // Malformed entries are skipped, not fatal.
  CHECK(lat_from_json(nlohmann::json::parse(R"([[0, 5], ["x", 1], [2048, -1], [2048, 2]])"))
            .total() == 2);
  CHECK(lat_json(LatencyHistogram{}).empty());
}

TEST_CASE("recorder: a minute row carries the minute's latency histogram of all ops") {
  std::vector<LedgerRow> rows;
  LedgerRecorder rec(
      {"0123456789abcdef0123456789abcdef"}, [&](LedgerRow r) { rows.push_back(std::move(r)); }, 0);
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  rec.observe_latency([&](const TargetSnapshot& t, const LatencyHistogram& h, std::int64_t) {
    seen.emplace_back(t.label, h.total());
  });
  TargetSnapshot m;
  m.name = "dm-0";
  m.label = "mpatha";
  m.target_type = "map";
  DeviceStats io;
  const auto at = [&](std::int64_t ms, std::uint64_t reads, std::uint64_t writes) {
    io.ops[0].count = reads;
    io.ops[0].total = hist({{1'000'000, reads}});
    io.ops[1].count = writes;
    io.ops[1].total = hist({{4'000'000, writes}});
    m.io = io;
    rec.sample({m}, kH + ms, static_cast<std::uint64_t>(ms) * 1'000'000);  // clocks in step
  };
  rec.start(kH, 0);
  at(0, 100, 10);
  at(30'000, 150, 20);
  at(61'000, 400, 50);  // the minute: 300 reads, 40 writes
  at(62'000, 400, 50);
  std::vector<const LedgerRow*> minutes;
  for (const auto& r : rows)
    if (r.kind == "minute") minutes.push_back(&r);
  REQUIRE(minutes.size() == 1);
  const auto& b = minutes[0]->body;
  CHECK(b["ios"] == 340);
  const LatencyHistogram lat = lat_from_json(b["lat"]);
  CHECK(lat.total() == 340);
  CHECK(lat[LatencyHistogram::bucket_of(1'000'000)] == 300);
  CHECK(lat[LatencyHistogram::bucket_of(4'000'000)] == 40);
  REQUIRE(seen.size() == 4);
  CHECK(seen.back() == std::pair<std::string, std::uint64_t>{"mpatha", 450});
  // A target without exported histograms (a path by default) has no lat.
  rows.clear();
  m.histograms = false;
  at(125'000, 500, 60);
  at(185'000, 600, 60);
  for (const auto& r : rows)
    if (r.kind == "minute") CHECK_FALSE(r.body.contains("lat"));
}

TEST_CASE("compaction: an hour row's lat is the sum of its minutes'") {
  test::TempDir dir;
  auto s = LedgerStore::open(dir.path() + "/l.db");
  REQUIRE(s);
  std::vector<LedgerRow> rows{
      minute_row(kH, "mpatha", hist({{1'000'000, 10}})),
      minute_row(kH + kMin, "mpatha", hist({{1'000'000, 5}, {9'000'000, 1}})),
      minute_row(kH + kHour, "mpatha", hist({{2'000'000, 7}}))};
  REQUIRE(s->append(rows));
  REQUIRE(compact_minutes(*s, kH + kHour, kH + 40 * 24 * kHour).value() == 2);
  auto hours = s->select(kChainHours, {"hour"}, 0, INT64_MAX);
  REQUIRE(hours->size() == 1);
  const LatencyHistogram h = lat_from_json((*hours)[0].body["lat"]);
  CHECK(h.total() == 16);
  CHECK(h[LatencyHistogram::bucket_of(1'000'000)] == 15);
  CHECK(verify_ledger(*s)->ok);
}

TEST_CASE("latency_hours: kept with the minute rows, rebuilt when behind or missing") {
  test::TempDir dir;
  auto s = LedgerStore::open(dir.path() + "/l.db");
  REQUIRE(s);
  const auto load = [&] { return latency_hours_load(*s, 0).value(); };
  SECTION("a new cache catches up, then follows each commit") {
    std::vector<LedgerRow> old{minute_row(kH, "a", hist({{1'000'000, 100}})),
                               minute_row(kH + kMin, "b", hist({{3'000'000, 50}}))};
    REQUIRE(s->append(old));
    auto u = latency_hours_add(*s, old, 0);
    CHECK(u->behind);  // never caught up: these are left to the catch-up
    CHECK(latency_hours_catch_up(*s, 0).value() == 2);
    CHECK(latency_hours_catch_up(*s, 0).value() == 0);
    std::vector<LedgerRow> next{
        minute_row(kH + 2 * kMin, "a", hist({{1'000'000, 50}})),
        LedgerRow{kChainMinutes, 0, "alive", kH + 2 * kMin, "", {{"targets", 2}}}};
    REQUIRE(s->append(next));
    u = latency_hours_add(*s, next, 0);
    REQUIRE_FALSE(u->behind);
    REQUIRE(u->hours.size() == 1);
    CHECK(u->hours[0].target == "a");
    CHECK(u->hours[0].summary.ios == 150);
    const auto all = load();
    REQUIRE(all.size() == 2);
    CHECK(all[0].hour_ms == kH);
    CHECK(all[0].summary.p99_ns == Approx(1e6).epsilon(0.07));
    CHECK(all[1].summary.ios == 50);
  }
  SECTION("rows it missed and that were compacted meanwhile: rebuilt from the hour rows") {
    REQUIRE(latency_hours_catch_up(*s, 0).value() == 0);
    std::vector<LedgerRow> rows{minute_row(kH, "a", hist({{1'000'000, 100}})),
                                minute_row(kH + kHour, "a", hist({{2'000'000, 10}}))};
    REQUIRE(s->append(rows));  // written by a sanwatch without the cache...
    REQUIRE(compact_minutes(*s, kH + kHour, kH + 40 * 24 * kHour).value() == 1);  // ...and folded
    std::int64_t n = 0;
    while (const auto k = latency_hours_catch_up(*s, 0).value()) n += k;
    CHECK(n > 0);
    const auto all = load();
    REQUIRE(all.size() == 2);
    CHECK(all[0].summary.ios == 100);  // from the hour row
    CHECK(all[1].summary.ios == 10);   // from the minute row
  }
  SECTION("hours before from_ms are not added; prune drops old ones") {
    std::vector<LedgerRow> rows{minute_row(kH, "a", hist({{1'000'000, 100}})),
                                minute_row(kH + kHour, "a", hist({{2'000'000, 10}}))};
    REQUIRE(s->append(rows));
    while (latency_hours_catch_up(*s, kH + 1).value() > 0) {
    }
    CHECK(load().size() == 1);
    CHECK(latency_hours_prune(*s, kH + 2 * kHour).value() == 1);
    CHECK(load().empty());
  }
  // The cache is no evidence: the chains verify whatever it holds.
  CHECK(verify_ledger(*s)->ok);
}

TEST_CASE("latency_hours: an older file gains the table; read-only readers ignore it") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  {
    auto s = LedgerStore::open(path);
    REQUIRE(s);
    REQUIRE(s->db().exec("DROP TABLE latency_hours"));  // as sanwatch before the baseline left it
  }
  {
    auto ro = LedgerStore::open(path, LedgerStore::Access::kReadOnly);
    REQUIRE(ro);  // a reader does not need it
    CHECK(ro->schema_version() == LedgerStore::kSchemaVersion);
  }
  auto s = LedgerStore::open(path);
  REQUIRE(s);
  CHECK(latency_hours_load(*s, 0));
}

TEST_CASE("recorder: a baseline event is a `baseline` row of integers") {
  std::vector<LedgerRow> rows;
  LedgerRecorder rec(
      {"r1"}, [&](LedgerRow r) { rows.push_back(std::move(r)); }, 0);
  BaselineEvent e;
  e.target.label = "mpatha";
  e.target.type = "map";
  e.target.wwid = "3600a0b80";
  e.degraded = true;
  e.wall_ms = kH;
  e.since_ms = kH - 6 * kHour;
  e.p99_ns = 9.4e6;
  e.baseline_p99_ns = 2.1e6;
  e.ratio_p99 = 9.4 / 2.1;
  e.factor = 2;
  rec.on_baseline(e);
  REQUIRE(rows.size() == 1);
  const auto& r = rows[0];
  CHECK(r.chain == kChainEvents);
  CHECK(r.kind == "baseline");
  CHECK(r.target == "mpatha");
  CHECK(r.ts_ms == kH);
  CHECK(r.body["state"] == "degraded");
  CHECK(r.body["p99_ns"] == 9'400'000);
  CHECK(r.body["ratio_p99_milli"] == 4476);
  CHECK(r.body["factor_milli"] == 2000);
  CHECK(r.body["identity"]["wwid"] == "3600a0b80");
  CHECK(r.body["run_id"] == "r1");
  for (const auto& [k, v] : r.body.items()) CHECK_FALSE(v.is_number_float());
}

TEST_CASE("ledger writer: hands the history and open episodes to the event loop") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  const std::int64_t now = now_ms(), hour = now - now % kHour;
  {
    auto s = LedgerStore::open(path);
    REQUIRE(s);
    std::vector<LedgerRow> rows{minute_row(hour - 7 * 24 * kHour, "a", hist({{1'000'000, 900}})),
                                LedgerRow{kChainEvents,
                                          0,
                                          "baseline",
                                          now - kHour,
                                          "a",
                                          {{"state", "degraded"},
                                           {"target_type", "map"},
                                           {"since_ms", now - 7 * kHour},
                                           {"peak_ratio_milli", 3500}}},
                                LedgerRow{kChainEvents,
                                          0,
                                          "baseline",
                                          now - kHour,
                                          "b",
                                          {{"state", "normal"}, {"target_type", "map"}}}};
    REQUIRE(s->append(rows));
  }
  std::FILE* out = std::tmpfile();
  EventLog log(out);
  LedgerWriterOptions o{path, 100, 400LL * 86'400'000, 35LL * 86'400'000, "r2"};
  o.latency_keep_ms = 35LL * 86'400'000;
  LedgerWriter w(o, log);
  BaselineInbox in;
  const auto gather = [&] {
    auto more = w.take_baseline();
    in.hours.insert(in.hours.end(), more.hours.begin(), more.hours.end());
    in.restores.insert(in.restores.end(), more.restores.begin(), more.restores.end());
  };
  CHECK(test::eventually(
      [&] {
        gather();
        return !in.hours.empty() && !in.restores.empty();
      },
      5s, 10ms));
  REQUIRE(in.hours.size() == 1);
  CHECK(in.hours[0].target == "a");
  CHECK(in.hours[0].hour_ms == hour - 7 * 24 * kHour);
  CHECK(in.hours[0].summary.ios == 900);
  REQUIRE(in.restores.size() == 1);  // b ended normal
  CHECK(in.restores[0].target == "a");
  CHECK(in.restores[0].since_ms == now - kHour);  // flagged at its row's ts
  CHECK(in.restores[0].peak_ratio == 3.5);
  // A minute row committed now reaches the event loop as its hour's summary.
  in = {};
  CHECK(w.push(minute_row(hour, "a", hist({{2'000'000, 600}}))));
  CHECK(test::eventually(
      [&] {
        gather();
        return !in.hours.empty();
      },
      5s, 10ms));
  CHECK(in.hours[0].hour_ms == hour);
  CHECK(in.hours[0].summary.ios == 600);
  w.stop(5s);
  std::fclose(out);
}
