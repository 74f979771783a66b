// SPDX-License-Identifier: Apache-2.0
// The latency baseline (detect/baseline.h) on synthetic traffic: weeks of
// minutes simulated in a fraction of a second, the history fed hour by hour
// the way the ledger's writer thread feeds it.
#include "detect/baseline.h"

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <random>

#include "ledger/lat_field.h"
#include "ledger/latency_hours.h"
#include "ledger/ledger_store.h"
#include "test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kMin = 60'000, kHour = 3'600'000, kDay = 24 * kHour, kWeek = 7 * kDay;
constexpr std::int64_t kT0 = 1764547200000;  // 2025-12-01T00:00:00Z, a Monday

// Latency (ns) of a LUN at a wall time; 0: idle.
using Profile = std::function<double(std::int64_t)>;

// One minute of I/O: n I/Os, 98 % at half the p99 latency, 2 % at p99.
LatencyHistogram minute_of(double p99_ns, std::uint64_t n) {
  LatencyHistogram h;
  if (p99_ns <= 0 || n == 0) return h;
  const std::uint64_t tail = std::max<std::uint64_t>(n / 50, 1);
  h.record(static_cast<std::uint64_t>(p99_ns / 2), n - tail);
  h.record(static_cast<std::uint64_t>(p99_ns), tail);
  return h;
}

TargetIdentity lun(const std::string& label = "mpatha") {
  TargetIdentity id;
  id.label = label;
  id.type = "map";
  id.wwid = "3600a0b80";
  return id;
}

// Drives a tracker minute by minute, handing each finished hour over as
// latency_hours would (and keeping the hours, for a restart).
struct Sim {
  BaselineSettings cfg;
  std::unique_ptr<BaselineTracker> t;
  LatencyHistogram cumulative, hour;
  std::int64_t hour_start = kT0;
  std::vector<BaselineHour> hours;
  std::vector<BaselineEvent> events;
  std::uint64_t ios_per_minute = 600;

  explicit Sim(BaselineSettings s = {}) : cfg(s), t(std::make_unique<BaselineTracker>(s)) {}

  void run(std::int64_t from, std::int64_t to, const Profile& p99_at) {
    for (std::int64_t now = from; now < to; now += kMin) {
      if (now - hour_start >= kHour) {
        hours.push_back(BaselineHour{"mpatha", hour_start, summarize(hour)});
        t->add_hour(hours.back());
        hour = {};
        hour_start = now - now % kHour;
      }
      const LatencyHistogram m = minute_of(p99_at(now), ios_per_minute);
      cumulative.add(m);
      hour.add(m);
      t->observe(lun(), cumulative, now + kMin - 1);
      for (auto& e : t->evaluate(now + kMin - 1)) events.push_back(std::move(e));
    }
  }
  std::vector<const BaselineEvent*> degraded() const {
    std::vector<const BaselineEvent*> out;
    for (const auto& e : events)
      if (e.degraded) out.push_back(&e);
    return out;
  }
};

Profile steady(double ms) {
  return [ms](std::int64_t) { return ms * 1e6; };
}

}  // namespace

TEST_CASE("baseline: a four-week ramp of p99 from 2 to 9 ms is flagged within a week of 2x") {
  Sim sim;
  sim.run(kT0, kT0 + 4 * kWeek, steady(2));
  CHECK(sim.events.empty());
  const std::int64_t ramp = kT0 + 4 * kWeek;
  const auto p99 = [ramp](std::int64_t t) {
    return 2e6 + 7e6 * static_cast<double>(t - ramp) / static_cast<double>(4 * kWeek);
  };
  // When the ramp first reaches twice the baseline the tracker uses then.
  std::int64_t crossed = -1;
  sim.run(ramp, ramp + 4 * kWeek, [&](std::int64_t now) {
    if (crossed < 0) {
      auto b = sim.t->baseline("mpatha", now);
      if (b && p99(now) >= 2 * b->p99_ns) crossed = now;
    }
    return p99(now);
  });
  REQUIRE(crossed > 0);
  const auto flagged = sim.degraded();
  REQUIRE(!flagged.empty());
  const BaselineEvent& e = *flagged.front();
  WARN("2x crossed " << (crossed - ramp) / double(kDay) << " days into the ramp, flagged "
                     << (e.wall_ms - ramp) / double(kDay) << " days in, ratio " << e.ratio_p99);
  CHECK(e.wall_ms >= crossed + 6 * kHour - 2 * kMin);  // held for `hold`
  CHECK(e.wall_ms - crossed <= kWeek);
  CHECK(e.ratio_p99 >= 2.0);
  CHECK(e.periods == 4);
  CHECK(e.baseline_p99_ns == Approx(2e6).epsilon(0.1));
  CHECK(e.target.wwid == "3600a0b80");
  CHECK(e.since_ms <= e.wall_ms - 6 * kHour);
}

TEST_CASE("baseline: a steady 9 ms learned as such is never flagged") {
  Sim sim;
  sim.run(kT0, kT0 + 8 * kWeek, steady(9));
  CHECK(sim.events.empty());
  auto s = sim.t->status();
  REQUIRE(s.size() == 1);
  CHECK(s[0].has_ratio);
  CHECK(s[0].ratio_p99 == Approx(1).epsilon(0.05));
  CHECK_FALSE(s[0].degraded);
}

TEST_CASE("baseline: hour-to-hour noise of 0.5x to 1.8x with a daily cycle is never flagged") {
  Sim sim;
  std::mt19937 rng(7);
  std::map<std::int64_t, double> noise;  // per hour
  sim.run(kT0, kT0 + 8 * kWeek, [&](std::int64_t t) {
    const std::int64_t hour = t / kHour;
    auto it = noise.find(hour);
    if (it == noise.end())
      it = noise.emplace(hour, std::uniform_real_distribution<double>(0.5, 1.8)(rng)).first;
    const double daily = (hour % 24) >= 9 && (hour % 24) < 18 ? 3.0 : 1.0;  // busy days are slower
    return 2e6 * daily * it->second;
  });
  CHECK(sim.degraded().empty());
}

TEST_CASE("baseline: a jump is held for `hold`, then cleared after one window below") {
  Sim sim;
  sim.run(kT0, kT0 + 3 * kWeek, steady(1));
  const std::int64_t jump = kT0 + 3 * kWeek;
  sim.run(jump, jump + 5 * kHour, steady(5));
  CHECK(sim.events.empty());  // 5 h < hold
  sim.run(jump + 5 * kHour, jump + 8 * kHour, steady(5));
  REQUIRE(sim.events.size() == 1);
  CHECK(sim.events[0].degraded);
  // The window reached 5 ms within a few minutes of the jump; the hold runs from there.
  CHECK(sim.events[0].wall_ms - jump >= 6 * kHour);
  CHECK(sim.events[0].wall_ms - jump <= 6 * kHour + kHour);
  CHECK(sim.t->status()[0].degraded);
  const std::int64_t back = jump + 8 * kHour;
  sim.run(back, back + 3 * kHour, steady(1));
  REQUIRE(sim.events.size() == 2);
  const BaselineEvent& n = sim.events[1];
  CHECK_FALSE(n.degraded);
  CHECK(n.since_ms == sim.events[0].wall_ms);
  CHECK(n.peak_ratio >= 4.5);
  // Below for one window after the window itself came back below 2x.
  CHECK(n.wall_ms - back <= 2 * kHour + 2 * kMin);
  CHECK_FALSE(sim.t->status()[0].degraded);
}

TEST_CASE("baseline: windows and hours with too few I/Os neither count nor reset") {
  BaselineSettings cfg;
  cfg.min_ios = 500;
  SECTION("quiet baseline hours are ignored: no baseline, no ratio") {
    Sim sim(cfg);
    sim.ios_per_minute = 5;  // 300 an hour
    sim.run(kT0, kT0 + 4 * kWeek, steady(1));
    sim.ios_per_minute = 600;
    sim.run(kT0 + 4 * kWeek, kT0 + 4 * kWeek + 8 * kHour, steady(9));
    CHECK(sim.events.empty());
    CHECK_FALSE(sim.t->status()[0].has_ratio);
    CHECK_FALSE(sim.t->baseline("mpatha", kT0 + 4 * kWeek + kHour));
  }
  SECTION("idle stretches inside the hold do not restart it") {
    Sim sim(cfg);
    sim.run(kT0, kT0 + 3 * kWeek, steady(1));
    const std::int64_t t = kT0 + 3 * kWeek;
    sim.run(t, t + 4 * kHour, steady(5));
    sim.run(t + 4 * kHour, t + 6 * kHour, steady(0));  // idle: nothing to compare
    CHECK(sim.events.empty());
    sim.run(t + 6 * kHour, t + 9 * kHour, steady(5));
    REQUIRE(sim.events.size() == 1);
    // Held since the first window above, not since the idle stretch ended.
    CHECK(sim.events[0].wall_ms < t + 7 * kHour);
  }
  SECTION("one earlier period is not a baseline") {
    Sim sim(cfg);
    sim.run(kT0, kT0 + kWeek + kDay, steady(1));
    CHECK_FALSE(sim.t->baseline("mpatha", kT0 + kWeek + 12 * kHour));
    sim.run(kT0 + kWeek + kDay, kT0 + 2 * kWeek + kDay, steady(1));
    auto b = sim.t->baseline("mpatha", kT0 + 2 * kWeek + 12 * kHour);
    REQUIRE(b);
    CHECK(b->periods == 2);
  }
}

TEST_CASE("baseline: a restart reloading latency_hours gives the same answer") {
  test::TempDir dir("sanwatch-baseline");
  auto store = LedgerStore::open(dir.path() + "/l.db");
  REQUIRE(store);
  // The same minutes, as minute rows through the cache, and straight into a tracker.
  Sim sim;
  const std::int64_t end = kT0 + 4 * kWeek + 3 * kDay;
  const auto profile = [](std::int64_t t) { return (1.0 + double((t / kHour) % 24) / 10) * 1e6; };
  LatencyHistogram last;
  std::vector<LedgerRow> rows;
  REQUIRE(latency_hours_catch_up(*store, 0).value() == 0);  // a new, empty cache
  for (std::int64_t t = kT0; t < end; t += kMin) {
    const LatencyHistogram m = minute_of(profile(t), 600);
    rows.push_back(LedgerRow{kChainMinutes,
                             0,
                             "minute",
                             t,
                             "mpatha",
                             {{"minute_ms", t}, {"ios", 600}, {"lat", lat_json(m)}}});
    if (rows.size() == 500 || t + kMin >= end) {
      REQUIRE(store->append(rows));
      auto u = latency_hours_add(*store, rows, 0);
      REQUIRE(u);
      REQUIRE_FALSE(u->behind);
      rows.clear();
    }
  }
  sim.run(kT0, end, profile);
  const std::int64_t now = end - 1;
  BaselineTracker again(BaselineSettings{});
  // Held in a variable: a range-for over value() of the temporary would
  // iterate a vector the temporary Result takes with it.
  const auto loaded = latency_hours_load(*store, now - 5 * kWeek);
  REQUIRE(loaded);
  for (const auto& h : *loaded) again.add_hour(h);
  // (The live tracker keeps only the hours it can still ask for.)
  for (std::int64_t t = now - kHour; t <= now; t += 10 * kMin) {
    auto a = sim.t->baseline("mpatha", t), b = again.baseline("mpatha", t);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->p99_ns == b->p99_ns);
    CHECK(a->p50_ns == b->p50_ns);
    CHECK(a->periods == b->periods);
  }
  // Rebuilt from the minute rows alone, the cache holds the same hours.
  REQUIRE(store->db().exec("DELETE FROM meta WHERE key LIKE 'latency_hours%'"));
  while (latency_hours_catch_up(*store, 0).value() > 0) {
  }
  BaselineTracker rebuilt(BaselineSettings{});
  const auto reloaded = latency_hours_load(*store, now - 5 * kWeek);
  REQUIRE(reloaded);
  for (const auto& h : *reloaded) rebuilt.add_hour(h);
  auto a = again.baseline("mpatha", now), b = rebuilt.baseline("mpatha", now);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->p99_ns == b->p99_ns);
}

TEST_CASE("baseline: an episode carried over from the last run is announced as restored") {
  Sim sim;
  sim.t->restore(BaselineRestore{"mpatha", "map", kT0 - kHour, 3.5});
  sim.run(kT0, kT0 + 2 * kMin, steady(1));
  REQUIRE(sim.events.size() == 1);
  CHECK(sim.events[0].degraded);
  CHECK(sim.events[0].restored);
  CHECK(sim.events[0].since_ms == kT0 - kHour);
  CHECK(sim.events[0].peak_ratio == 3.5);
  CHECK(sim.t->status()[0].degraded);
  // With nothing to compare it stays so for a period, then ends.
  sim.ios_per_minute = 0;
  sim.run(kT0 + 2 * kMin, kT0 + kWeek + kHour, steady(0));
  REQUIRE(sim.events.size() == 2);
  CHECK_FALSE(sim.events[1].degraded);
  CHECK(sim.events[1].wall_ms >= kT0 - kHour + kWeek);
}

TEST_CASE("baseline: plain devices are tracked, paths are not; the event line") {
  BaselineTracker t(BaselineSettings{});
  TargetIdentity path = lun("sdb");
  path.type = "path";
  t.observe(path, minute_of(1e6, 10), kT0);
  CHECK(t.status().empty());
  TargetIdentity dev = lun("sdc");
  dev.type = "device";
  t.observe(dev, minute_of(1e6, 10), kT0);
  REQUIRE(t.status().size() == 1);
  CHECK(t.status()[0].target_type == "device");
  BaselineEvent e;
  e.target = dev;
  e.degraded = true;
  e.ratio_p99 = 2.51234;
  e.p99_ns = 5.5e6;
  e.ts = "2025-12-01T00:00:00.000000Z";
  const auto j = baseline_json(e);
  CHECK(j["event"] == "baseline");
  CHECK(j["state"] == "degraded");
  CHECK(j["target"] == "sdc");
  CHECK(j["target_type"] == "device");
  CHECK(j["ratio_p99"] == 2.512);
  CHECK(j["p99_ms"] == 5.5);
  CHECK(j["wwid"] == "3600a0b80");
  CHECK_FALSE(j.contains("restored"));
}
