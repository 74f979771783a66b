// SPDX-License-Identifier: Apache-2.0
// The latency baseline end to end: `sanwatch run` on a fault disk, with a
// ledger whose earlier weeks say this LUN answered in 1 ms (minute rows
// with their `lat`, as an agent would have written them), then 5 ms
// injected live: a `degraded` event, metric and warning alert within the
// (shortened) window + hold, carried over a restart, `normal` again once
// the delay is gone, the ledger's `baseline` rows and the report's weeks
// above baseline.
//
// Honest and fast: the history is real ledger rows that the agent's writer
// turns into latency_hours and hands to the tracker; the current window is
// the agent's own measurement of the loop device. Only window and hold are
// shortened (3 s, 4 s); period and learn are the defaults (7 d, 28 d).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "http_listener.h"
#include "ledger/lat_field.h"
#include "ledger/ledger_store.h"
#include "privileged.h"
#include "process.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::LedgerRow;
using sanwatch::LedgerStore;
using sanwatch::test::AgentProcess;
using sanwatch::test::BackgroundReader;
using sanwatch::test::FaultDisk;

namespace {

constexpr std::int64_t kHour = 3'600'000, kWeek = 7 * 24 * kHour;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Three earlier weeks of this hour and its neighbours: 1000 I/Os at 1 ms
// in one minute of each hour.
void write_history(const std::string& path, const std::string& target) {
  auto store = LedgerStore::open(path);
  REQUIRE(store);
  sanwatch::LatencyHistogram h;
  h.record(1'000'000, 1000);
  const std::int64_t now = wall_ms(), hour = now - now % kHour;
  std::vector<LedgerRow> rows;
  for (int week = 3; week >= 1; --week)
    for (std::int64_t at = hour - kHour; at <= hour + kHour; at += kHour) {
      const std::int64_t m = at - week * kWeek + 60'000;
      rows.push_back(LedgerRow{sanwatch::kChainMinutes,
                               0,
                               "minute",
                               m,
                               target,
                               {{"minute_ms", m},
                                {"covered_ms", 60000},
                                {"state_ms", {{"ok", 60000}}},
                                {"impaired_ms", 0},
                                {"ios", 1000},
                                {"ios_over_ns", nlohmann::json::object()},
                                {"canary_probes", 0},
                                {"canary_failures", 0},
                                {"target_type", "device"},
                                {"device", target},
                                {"lat", sanwatch::lat_json(h)},
                                {"run_id", std::string(32, 'e')}}});
    }
  REQUIRE(store->append(rows));
}

std::string metrics(const AgentProcess& agent) {
  auto r = sanwatch::test::run_command({"curl", "-sf", agent.metrics_url()}, 10s);
  return r.exit_code == 0 ? r.out : "";
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("baseline: learned at 1 ms then 5 ms injected: degraded, kept over a restart, normal") {
  sanwatch::test::require_privileged("baseline drift test");
  FaultDisk disk;
  const std::string dev = disk.loop_name();
  sanwatch::test::TempDir dir("sanwatch-baseline");
  const std::string ledger = dir.path() + "/ledger.db";
  write_history(ledger, dev);
  sanwatch::test::HttpListener am;
  const std::string config = fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"200ms\"\n[canary]\ntargets = \"none\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"200ms\"\n"
      "[alerts]\nalertmanager_urls = [\"{}\"]\nhealth_check = \"0s\"\n"
      "[ledger]\npath = \"{}\"\n"
      "[baseline]\nwindow = \"3s\"\nhold = \"4s\"\nmin_ios = 100\n",
      dev, am.url(), ledger);
  auto agent = std::make_unique<AgentProcess>(config);
  const std::string loaded = "ledger: baseline history of 9 target-hours loaded";
  const auto& early = agent->events();  // up to "ready"
  REQUIRE((std::any_of(early.begin(), early.end(),
                       [&](const auto& e) { return e.value("msg", "") == loaded; }) ||
           agent->wait_log(loaded, 10s)));
  const auto baseline_event = [&](const std::string& state, std::chrono::milliseconds within) {
    return agent->wait_line(
        [&](const nlohmann::json& j) {
          return j.value("event", "") == "baseline" && j.value("target", "") == dev &&
                 j.value("state", "") == state;
        },
        within);
  };
  const std::string degraded_metric =
      fmt::format("sanwatch_baseline_degraded{{target=\"{}\",target_type=\"device\"}} ", dev);
  BackgroundReader reader(disk.loop_device());
  // Undisturbed, the loop device is faster than its 1 ms history.
  const std::string ratio_key = fmt::format(
      "sanwatch_baseline_ratio{{target=\"{}\",target_type=\"device\",quantile=\"0.99\"}} ", dev);
  std::string m;
  REQUIRE(
      sanwatch::test::eventually([&] { return has(m = metrics(*agent), ratio_key); }, 10s, 250ms));
  CHECK(has(m, degraded_metric + "0"));
  const auto at = m.find(ratio_key) + ratio_key.size();
  WARN("undisturbed p99 ratio " << m.substr(at, m.find('\n', at) - at));
  const std::size_t posts = am.requests().size();

  // Stamped before the delay is set: the agent may see slow reads before
  // set_read_delay returns, and the hold is measured from the first of them.
  const auto t0 = std::chrono::steady_clock::now();
  disk.set_read_delay(5ms);
  auto degraded = baseline_event("degraded", 20s);
  const double after_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(degraded);
  INFO(degraded->dump());
  WARN(fmt::format("degraded {:.1f} s after 5 ms was injected (window 3 s, hold 4 s)", after_s));
  CHECK(after_s >= 4.0);
  CHECK((*degraded)["ratio_p99"].get<double>() >= 2.0);
  CHECK((*degraded)["baseline_p99_ms"].get<double>() == Approx(1.0).epsilon(0.15));
  CHECK((*degraded)["p99_ms"].get<double>() >= 4.5);
  CHECK((*degraded)["periods"] == 3);
  m = metrics(*agent);
  CHECK(has(m, degraded_metric + "1"));
  // Not a health state: the target stays ok.
  CHECK(has(m, fmt::format("sanwatch_state{{target=\"{}\",target_type=\"device\",state=\"ok\"}} 1",
                           dev)));
  REQUIRE(am.wait_for(posts + 1, 5s));
  const auto fired = am.requests().back().body;
  INFO(fired);
  CHECK(has(fired, "\"alertname\":\"SanwatchLatencyAboveBaseline\""));
  CHECK(has(fired, "\"severity\":\"warning\""));

  // A restart while degraded carries the episode over (and the history,
  // now with this run's hour in latency_hours).
  REQUIRE(agent->stop() == 0);
  agent.reset();
  agent = std::make_unique<AgentProcess>(config);
  // Announced at the first evaluation, which may come before "ready".
  std::optional<nlohmann::json> restored;
  for (const auto& e : agent->events())
    if (e.value("event", "") == "baseline" && e.value("state", "") == "degraded") restored = e;
  if (!restored) restored = baseline_event("degraded", 10s);
  REQUIRE(restored);
  CHECK(restored->value("restored", false));
  CHECK(sanwatch::test::eventually([&] { return has(metrics(*agent), degraded_metric + "1"); }, 5s,
                                   200ms));

  disk.set_read_delay(0ms);
  auto normal = baseline_event("normal", 20s);
  REQUIRE(normal);
  CHECK((*normal)["peak_ratio"].get<double>() >= 2.0);
  CHECK(has(metrics(*agent), degraded_metric + "0"));
  REQUIRE(sanwatch::test::eventually(
      [&] {
        for (const auto& r : am.requests())
          if (has(r.body, "SanwatchLatencyAboveBaseline") && has(r.body, "\"endsAt\"")) return true;
        return false;
      },
      5s, 100ms));
  REQUIRE(agent->stop() == 0);

  auto store = LedgerStore::open(ledger, LedgerStore::Access::kReadOnly);
  REQUIRE(store);
  auto rows = store->select(sanwatch::kChainEvents, {"baseline"}, INT64_MIN, INT64_MAX);
  REQUIRE(rows);
  REQUIRE(rows->size() == 3);
  CHECK((*rows)[0].body["state"] == "degraded");
  CHECK((*rows)[0].body["ratio_p99_milli"].get<std::int64_t>() >= 2000);
  CHECK((*rows)[1].body["state"] == "degraded");
  CHECK((*rows)[1].body.value("restored", false));
  CHECK((*rows)[1].body["since_ms"] == (*rows)[0].ts_ms);
  CHECK((*rows)[2].body["state"] == "normal");
  CHECK(sanwatch::verify_ledger(*store)->ok);
  // The minute rows carry the measured histogram.
  auto minutes = store->select(sanwatch::kChainMinutes, {"minute"}, wall_ms() - kHour, INT64_MAX);
  REQUIRE(minutes);
  REQUIRE_FALSE(minutes->empty());
  CHECK(minutes->back().body.contains("lat"));

  auto rep = sanwatch::test::run_command(
      {SANWATCH_BIN, "report", "--ledger", ledger, "--last", "1h", "--format", "json"}, 30s);
  INFO(rep.err);
  REQUIRE(rep.exit_code == 0);
  const auto report = nlohmann::json::parse(rep.out);
  REQUIRE(report["baseline"]["targets"].size() == 1);
  const auto& t = report["baseline"]["targets"][0];
  CHECK(t["target"] == dev);
  CHECK(t["episodes"] == 2);  // one per run
  CHECK(t["degraded_ms"].get<std::int64_t>() > 1000);
}
