// SPDX-License-Identifier: Apache-2.0
// The recorder: state changes, snapshots and clocks in, ledger rows out.
#include "ledger/recorder.h"

#include <catch2/catch.hpp>

using namespace sanwatch;

namespace {

constexpr std::int64_t kT0 = 1764842400000;          // 2025-12-04T10:00:00Z, a minute boundary
constexpr std::uint64_t kM0 = 1'000'000'000'000ull;  // CLOCK_MONOTONIC at kT0
constexpr std::uint64_t s(double v) { return kM0 + static_cast<std::uint64_t>(v * 1e9); }

struct Rig {
  std::vector<LedgerRow> rows;
  LedgerRecorder rec{RunInfo{"0123456789abcdef0123456789abcdef",
                             "db1",
                             "1.0",
                             "6.1",
                             "boot",
                             "<test>",
                             "cfg",
                             {10'000'000, 100'000'000}},
                     [this](LedgerRow r) { rows.push_back(std::move(r)); }, 15000};

  std::vector<TargetSnapshot> targets(std::uint64_t ios, std::uint64_t over10,
                                      Impairment imp = {}) {
    TargetSnapshot m;
    m.name = "dm-0";
    m.label = "mpatha";
    m.target_type = "map";
    m.wwid = "3600a0b80";
    DeviceStats io;
    io.slo_ns = {10'000'000, 100'000'000, 0, 0};
    io.ops[0].count = ios;
    io.ops[0].slo_over[0] = over10;
    m.io = io;
    m.impairment = imp;
    TargetSnapshot p;
    p.name = "sdb";
    p.label = "sdb";
    p.target_type = "path";
    p.map = "mpatha";
    p.array = "3PARdata VV";
    p.target_port = "0x20010002ac000001";
    p.serial = "4UW0001234";
    return {m, p};
  }
  void sample(double at, std::uint64_t ios, std::uint64_t over10, Impairment imp = {}) {
    rec.sample(targets(ios, over10, imp), kT0 + static_cast<std::int64_t>(at * 1000), s(at));
  }
  void state(double at, Health from, Health to, Impairment imp) {
    TargetIdentity id;
    id.label = "mpatha";
    id.type = "map";
    id.kernel_name = "dm-0";
    id.dm_name = "mpatha";
    id.wwid = "3600a0b80";
    rec.on_state(StateChange{id, Transition{from, to, s(at), "why", {}, imp}, "", s(at)});
  }
  std::vector<const LedgerRow*> of(const std::string& kind) const {
    std::vector<const LedgerRow*> out;
    for (const auto& r : rows)
      if (r.kind == kind) out.push_back(&r);
    return out;
  }
};

Impairment hard(double a, double b, bool ongoing = false) {
  Impairment i;
  i.hard.add(s(a), s(b));
  i.slow.add(s(a), s(b));
  i.ongoing = ongoing;
  i.peak_oldest_ns = static_cast<std::uint64_t>((b - a) * 1e9);
  return i;
}

}  // namespace

TEST_CASE("recorder: a stall becomes one incident with its true impairment and detection") {
  Rig r;
  r.rec.start(kT0, s(0));
  r.sample(0, 100, 0);
  r.state(5, Health::kOk, Health::kStalled, hard(3, 5, true));
  r.sample(6, 150, 3, hard(3, 6, true));
  r.state(20, Health::kStalled, Health::kOk, hard(3, 8));
  REQUIRE(r.of("start").size() == 1);
  REQUIRE(r.of("state").size() == 2);
  REQUIRE(r.of("incident_open").size() == 1);
  REQUIRE(r.of("incident").size() == 1);
  const auto& b = r.of("incident")[0]->body;
  CHECK(r.of("incident")[0]->ts_ms == kT0 + 3000);
  CHECK(b["impairment"]["start_ms"] == kT0 + 3000);
  CHECK(b["impairment"]["end_ms"] == kT0 + 8000);
  CHECK(b["impairment"]["duration_ms"] == 5000);
  CHECK(b["impairment"]["start"] == "2025-12-04T10:00:03.000Z");
  CHECK(b["basis"] == "hard");
  CHECK(b["worst_state"] == "stalled");
  CHECK(b["detection"]["start_ms"] == kT0 + 5000);
  CHECK(b["detection"]["end_ms"] == kT0 + 20000);
  CHECK(b["detection"]["changes"].size() == 2);
  CHECK(b["closed_by"] == "recovered");
  CHECK(b["paths"] == nlohmann::json{"sdb"});
  CHECK(b["array"] == "3PARdata VV");
  CHECK(b["serial"] == "4UW0001234");
  CHECK(b["target_ports"] == nlohmann::json{"0x20010002ac000001"});
  CHECK(b["identity"]["wwid"] == "3600a0b80");
  CHECK(b["run_id"] == "0123456789abcdef0123456789abcdef");
}

TEST_CASE("recorder: minute rollups wait out the lag and split state time exactly") {
  Rig r;
  r.rec.start(kT0, s(0));
  r.sample(0, 100, 0);
  r.state(5, Health::kOk, Health::kStalled, hard(3, 5, true));
  r.state(20, Health::kStalled, Health::kOk, hard(3, 8));
  r.sample(61, 400, 7);  // the minute ended, its lag has not
  std::vector<const LedgerRow*> minutes;
  for (const auto& row : r.rows)
    if (row.kind == "minute" && row.target == "mpatha") minutes.push_back(&row);
  CHECK(minutes.empty());
  r.sample(76, 450, 7);
  for (const auto& row : r.rows)
    if (row.kind == "minute" && row.target == "mpatha") minutes.push_back(&row);
  REQUIRE(minutes.size() == 1);
  const auto& m = minutes[0]->body;
  CHECK(minutes[0]->chain == kChainMinutes);
  CHECK(m["minute_ms"] == kT0);
  CHECK(m["covered_ms"] == 60000);
  CHECK(m["state_ms"]["ok"] == 45000);
  CHECK(m["state_ms"]["stalled"] == 15000);
  CHECK(m["impaired_ms"] == 5000);
  CHECK(m["ios"] == 300);
  CHECK(m["ios_over_ns"]["10000000"] == 7);
  CHECK(m["ios_over_ns"]["100000000"] == 0);
  CHECK(m["wwid"] == "3600a0b80");
  // The idle path writes no minute row; an alive row each minute.
  for (const auto& row : r.rows) CHECK_FALSE((row.kind == "minute" && row.target == "sdb"));
  CHECK(r.of("alive").size() == 2);
}

TEST_CASE("recorder: a clean stop closes what is open and ends with the stop row") {
  Rig r;
  r.rec.start(kT0, s(0));
  r.sample(0, 0, 0);
  r.state(10, Health::kOk, Health::kStalled, hard(8, 10, true));
  r.sample(30, 0, 0, hard(8, 30, true));
  r.rec.stop(r.targets(0, 0, hard(8, 40, true)), kT0 + 40000, s(40));
  REQUIRE(r.of("incident").size() == 1);
  const auto& b = r.of("incident")[0]->body;
  CHECK(b["closed_by"] == "agent_stop");
  CHECK(b["ongoing"] == true);
  CHECK(b["impairment"]["duration_ms"] == 32000);
  REQUIRE(r.rows.back().kind == "stop");
  bool minute = false;
  for (const auto& row : r.rows)
    if (row.kind == "minute" && row.target == "mpatha") {
      minute = true;
      CHECK(row.body["covered_ms"] == 40000);
      CHECK(row.body["impaired_ms"] == 32000);
      CHECK(row.body["state_ms"]["stalled"] == 30000);
    }
  CHECK(minute);
}

TEST_CASE("recorder: a slow-only incident is counted by its slow span") {
  Rig r;
  r.rec.start(kT0, s(0));
  r.sample(0, 0, 0);
  Impairment slow;
  slow.slow.add(s(1), s(4));
  r.state(2, Health::kOk, Health::kSlow, slow);
  r.state(15, Health::kSlow, Health::kOk, slow);
  const auto& b = r.of("incident")[0]->body;
  CHECK(b["basis"] == "slow");
  CHECK(b["impairment"]["duration_ms"] == 3000);
  CHECK_FALSE(is_down_state("slow"));
  CHECK(is_down_state("stalled"));
}

namespace {

// Samples every second from mono `from` to `to` (s), the wall clock
// `step_s` away from kT0 + mono; 10 I/Os a second. Returns the minute rows
// of mpatha written so far.
std::vector<const LedgerRow*> sample_stepped(Rig& r, int from, int to, double step_s) {
  for (int at = from; at <= to; ++at)
    r.rec.sample(r.targets(static_cast<std::uint64_t>(at) * 10, 0),
                 kT0 + static_cast<std::int64_t>((at + step_s) * 1000), s(at));
  std::vector<const LedgerRow*> out;
  for (const auto* row : r.of("minute"))
    if (row->target == "mpatha") out.push_back(row);
  return out;
}

}  // namespace

TEST_CASE("recorder: a wall clock stepped back an hour does not hold minute rows back an hour") {
  Rig r;
  r.rec.start(kT0, s(0));
  sample_stepped(r, 0, 39, 0);
  // Stepped back at mono 40 s: the minute under way is written as it stands
  // (to the step), and minutes go on from the new wall clock.
  const auto rows = sample_stepped(r, 40, 200, -3600);
  REQUIRE(rows.size() >= 2);
  CHECK(rows[0]->body["minute_ms"] == kT0);
  CHECK(rows[0]->body["covered_ms"] == 40000);
  CHECK(rows[0]->body["ios"] == 400);
  std::int64_t covered = 0, ios = 0;
  for (const auto* row : rows) {
    covered += row->body["covered_ms"].get<std::int64_t>();
    ios += row->body["ios"].get<std::int64_t>();
  }
  // Every second of the run is in some minute row, once (all but the last
  // minutes, which wait out their lag).
  CHECK(covered <= 200000);
  CHECK(covered >= 200000 - 60000 - 15000);
  CHECK(ios <= 2000);
}

TEST_CASE("recorder: a wall clock stepped forward an hour invents no hour of state") {
  Rig r;
  r.rec.start(kT0, s(0));
  r.sample(0, 0, 0);
  r.state(5, Health::kOk, Health::kStalled, hard(3, 5, true));
  sample_stepped(r, 1, 29, 0);
  const auto rows = sample_stepped(r, 30, 150, 3600);
  std::int64_t stalled = 0;
  for (const auto* row : rows) stalled += row->body["state_ms"].value("stalled", 0);
  // Stalled from 5 s to 150 s of CLOCK_MONOTONIC, not for the hour the wall
  // clock skipped.
  CHECK(stalled <= 145000);
  CHECK(stalled >= 25000);
}
