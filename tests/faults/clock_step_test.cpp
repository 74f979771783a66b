// SPDX-License-Identifier: Apache-2.0
// Fault: the wall clock stepped an hour forward and back (a bad NTP source,
// an operator's `date -s`) while a device is slow. Detection runs on
// CLOCK_MONOTONIC, so nothing may change state because of it (no flap, no
// recovery, no stall), a stall injected meanwhile must be timed exactly, and
// only the events' `ts` (wall clock by definition) follows the step.
//
// The clock is the whole machine's: the test steps it for a few seconds
// only and always steps it back (tests/support/wall_clock_step.h).
#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "ledger/ledger_store.h"
#include "privileged.h"
#include "wall_clock_step.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::mono_now_ns;
using sanwatch::test::parse_rfc3339;
using sanwatch::test::wall_now_s;
using json = nlohmann::json;

namespace {

constexpr double kStallS = 1.0;
constexpr double kRecoveryS = 1.0;

std::string config_for(const FaultDisk& d) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\n[thresholds]\nslow_io = \"20ms\"\nslow_window = \"2s\"\n"
      "stall = \"1s\"\nrecovery = \"1s\"\n[canary]\ntargets = \"none\"\n[metrics]\n"
      "listen = \"127.0.0.1:0\"\nrefresh = \"200ms\"\n",
      d.loop_name());
}

// A fresh line from the agent, with the wall clock as it is now: a reload
// (SIGHUP, same file) logs one.
json reload_line(AgentProcess& agent) {
  agent.process().send_signal(SIGHUP);
  auto line = agent.wait_log("configuration reloaded", 3s);
  REQUIRE(line);
  return *line;
}

// How far the line's ts is from the test's own wall clock now, in s.
double ts_skew(const json& line) { return parse_rfc3339(line["ts"]) - wall_now_s(); }

// Seconds the ts moved between two lines beyond what CLOCK_MONOTONIC did.
double ts_jump(const json& from, const json& to) {
  return parse_rfc3339(to["ts"]) - parse_rfc3339(from["ts"]) -
         (to["mono_ns"].get<double>() - from["mono_ns"].get<double>()) / 1e9;
}

// Reads (and keeps) whatever the agent says for `d`.
void hold(AgentProcess& agent, std::chrono::milliseconds d) {
  agent.wait_line([](const json&) { return false; }, d);
}

struct StallSeen {
  double lag_ms;      // reported age of the oldest I/O minus the threshold
  double recovery_s;  // stalled -> slow, after the release
  double ts_skew_s;   // the stalled event's ts against the stepped wall clock
};

// The slow device's reads stall (the background reader's next read is held).
StallSeen stall_while_stepped(AgentProcess& agent, FaultDisk& disk) {
  disk.stall();
  auto stalled = agent.wait_state(disk.loop_name(), "stalled", 5s);
  const double skew = stalled ? ts_skew(*stalled) : NAN;
  disk.release();
  REQUIRE(stalled);
  INFO(stalled->dump());
  auto back = agent.wait_state(disk.loop_name(), "slow", 5s);
  REQUIRE(back);
  return {((*stalled)["inflight_oldest_s"].get<double>() - kStallS) * 1e3,
          ((*back)["mono_ns"].get<double>() - (*stalled)["mono_ns"].get<double>()) / 1e9, skew};
}

// Seconds since the agent's ready line.
double since_ready_s(const AgentProcess& a) {
  for (const auto& e : a.events())
    if (e.value("msg", "") == "ready")
      return (static_cast<double>(mono_now_ns()) - e["mono_ns"].get<double>()) / 1e9;
  return 0;
}

// Seconds of state the ledger's minute rows of `target` account for.
double ledger_state_s(const std::string& path, const std::string& target, int& rows) {
  auto store = sanwatch::LedgerStore::open(path, sanwatch::LedgerStore::Access::kReadOnly);
  REQUIRE(store);
  auto minutes = store->select(sanwatch::kChainMinutes, {"minute"}, INT64_MIN, INT64_MAX);
  REQUIRE(minutes);
  double ms = 0;
  rows = 0;
  for (const auto& m : *minutes) {
    if (m.target != target) continue;
    ++rows;
    for (const auto& [state, v] : m.body["state_ms"].items()) ms += v.get<double>();
  }
  return ms / 1e3;
}

}  // namespace

TEST_CASE("faults: the wall clock stepped +-1 h while a device is slow changes no state") {
  sanwatch::test::require_privileged("wall clock step fault test");
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  const std::string dev = disk.loop_name();
  disk.set_read_delay(50ms);
  sanwatch::test::BackgroundReader reader(disk.loop_device());
  REQUIRE(agent.wait_state(dev, "slow", 5s));
  hold(agent, 500ms);
  const std::size_t before = agent.states(dev).size();
  json prev = reload_line(agent);
  std::vector<double> jumps, skews;
  StallSeen stall{};
  {
    sanwatch::test::WallClockStep clock;
    for (const auto by : {1h, -2h, 1h}) {
      clock.step(by);
      const json line = reload_line(agent);
      skews.push_back(ts_skew(line));
      jumps.push_back(ts_jump(prev, line));
      CHECK(std::abs(skews.back()) < 1.0);
      CHECK(std::abs(jumps.back() - std::chrono::duration<double>(by).count()) < 1.0);
      prev = line;
      if (by < 0h)
        stall = stall_while_stepped(agent, disk);
      else if (clock.net() != 0ns)
        hold(agent, 2s);
    }
    CHECK(clock.net() == 0ns);
  }
  hold(agent, 1s);
  // Exactly the stall injected, and its end: nothing else changed state.
  const auto all = agent.states(dev);
  std::vector<std::string> seen;
  for (std::size_t i = before; i < all.size(); ++i) seen.push_back(all[i]["to"]);
  CHECK(seen == std::vector<std::string>{"stalled", "slow"});
  CHECK(stall.lag_ms < 250);
  CHECK(stall.recovery_s >= kRecoveryS);
  CHECK(stall.recovery_s < kRecoveryS + 1.0);
  CHECK(std::abs(stall.ts_skew_s) < 1.0);
  for (const auto& e : agent.events()) {
    INFO(e.dump());
    CHECK(e.value("level", "") != "error");
  }
  const double watched_s = since_ready_s(agent);
  CHECK(agent.stop() == 0);
  // The evidence: the minute rows hold the time the agent watched, not the
  // hour the wall clock skipped (nor nothing for the hour it went back).
  int minute_rows = 0;
  const double ledger_s = ledger_state_s(agent.ledger_path(), dev, minute_rows);
  CHECK(ledger_s <= watched_s + 1.5);  // + start-up: the ledger begins before ready
  CHECK(ledger_s >= 3.0);
  const int unexpected = static_cast<int>(seen.size()) - 2;
  WARN(fmt::format(
      "wall clock +1 h, -2 h, +1 h while slow: {} state events (2 expected: the injected stall "
      "and its end); ts jumps {:+.3f} / {:+.3f} / {:+.3f} s, ts vs wall clock within {:.3f} s; "
      "stall lag at -1 h {:.1f} ms, recovery {:.3f} s (recovery = {:.0f} s); ledger: {} minute "
      "rows, {:.1f} s of state over {:.1f} s watched",
      seen.size(), jumps[0], jumps[1], jumps[2],
      std::max({std::abs(skews[0]), std::abs(skews[1]), std::abs(skews[2])}), stall.lag_ms,
      stall.recovery_s, kRecoveryS, minute_rows, ledger_s, watched_s));
  sanwatch::test::print_fault_row(
      "wall clock stepped +-1 h while a device is slow",
      "clock_settime +1 h, -2 h, +1 h (restored), a stall while at -1 h",
      fmt::format("{} false state changes; stall timed on CLOCK_MONOTONIC; ts follows the step",
                  std::max(unexpected, 0)),
      fmt::format("nothing; the ledger's minutes hold {:.1f} s of state for {:.1f} s watched",
                  ledger_s, watched_s),
      {{"state_events", seen.size()},
       {"unexpected_state_events", unexpected},
       {"ts_jumps_s", jumps},
       {"ts_skew_s", skews},
       {"stall_lag_ms", stall.lag_ms},
       {"recovery_s", stall.recovery_s},
       {"ledger_minute_rows", minute_rows},
       {"ledger_state_s", ledger_s},
       {"watched_s", watched_s}});
}
