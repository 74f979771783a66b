// SPDX-License-Identifier: Apache-2.0
// Fault: the agent is killed (SIGKILL, no chance to clean up) while a device
// is stalled, and restarted with the same configuration and ledger. The new
// agent must report the device stalled at once, with the stall's true age
// (in-flight I/O is seeded from the kernel's own request start times), not
// an age counted from its own start.
#include <fmt/format.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <memory>
#include <thread>

#include "agent_process.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "privileged.h"
#include "stuck_read.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::mono_now_ns;
using sanwatch::test::StuckRead;
using json = nlohmann::json;

namespace {

constexpr int kRestarts = 5;

std::string config_for(const FaultDisk& d, const std::string& ledger) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\n[thresholds]\nstall = \"500ms\"\nrecovery = \"300ms\"\n"
      "slow_io = \"200ms\"\n[canary]\ntargets = \"none\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
      "[ledger]\npath = \"{}\"\n",
      d.loop_name(), ledger);
}

json line_where(const AgentProcess& a, const std::string& key, const std::string& value) {
  for (const auto& e : a.events())
    if (e.value(key, "") == value) return e;
  return {};
}

// The agent's `stalled` event for the device: already read (the first scan
// reports it, before "ready"), or within 2 s.
json stalled_event(AgentProcess& a, const std::string& dev) {
  for (const auto& s : a.states(dev))
    if (s["to"] == "stalled") return s;
  auto ev = a.wait_state(dev, "stalled", 2s);
  REQUIRE(ev);
  return *ev;
}

struct Restart {
  double ready_to_stalled_ms;  // negative: reported before the ready line
  double kill_to_stalled_ms;   // blind time: no agent watching
  double age_error_ms;         // reported age minus the true age
  double startup_ms;           // exec to ready
};

// Kills `agent` with SIGKILL and starts another on the same config; measures
// how the new one reports the stall that is still under way.
Restart kill_and_restart(std::unique_ptr<AgentProcess>& agent, const std::string& cfg,
                         const FaultDisk& disk, const StuckRead& stuck) {
  const std::uint64_t kill_ns = mono_now_ns();
  agent->process().send_signal(SIGKILL);
  REQUIRE(agent->process().wait(5s) == 128 + SIGKILL);
  agent.reset();
  const std::uint64_t spawn_ns = mono_now_ns();
  agent = std::make_unique<AgentProcess>(cfg);
  const json ready = line_where(*agent, "msg", "ready");
  const json ev = stalled_event(*agent, disk.loop_name());
  INFO(ev.dump());
  CHECK(ev["reason"].get<std::string>().find("oldest I/O outstanding for") != std::string::npos);
  const auto at = ev["mono_ns"].get<std::uint64_t>();
  const double reported = ev["inflight_oldest_s"].get<double>();
  // The read was issued within [before_ns, after_ns]: its true age at `at`
  // lies within the bracket, whose half width bounds the error we can see.
  CHECK(reported >= (static_cast<double>(at) - stuck.after_ns) / 1e9 - 0.001);
  CHECK(reported <= (static_cast<double>(at) - stuck.before_ns) / 1e9 + 0.001);
  const auto ms = [](double ns) { return ns / 1e6; };
  return {ms(static_cast<double>(at) - ready["mono_ns"].get<double>()),
          ms(static_cast<double>(at) - kill_ns), (reported - stuck.age_s(at)) * 1e3,
          ms(ready["mono_ns"].get<double>() - spawn_ns)};
}

}  // namespace

TEST_CASE("faults: kill -9 during a stall, the restarted agent reports it stalled at once") {
  sanwatch::test::require_privileged("kill -9 restart fault test");
  FaultDisk disk;
  sanwatch::test::TempDir state{"sanwatch-faults"};
  const std::string cfg = config_for(disk, state.path() + "/ledger.db");
  StuckRead stuck(disk);
  auto agent = std::make_unique<AgentProcess>(cfg);
  stalled_event(*agent, disk.loop_name());
  std::vector<double> ready_lag, blind, age_err, startup;
  for (int i = 0; i < kRestarts; ++i) {
    const Restart r = kill_and_restart(agent, cfg, disk, stuck);
    CHECK(r.ready_to_stalled_ms < 200);
    ready_lag.push_back(r.ready_to_stalled_ms);
    blind.push_back(r.kill_to_stalled_ms);
    age_err.push_back(r.age_error_ms);
    startup.push_back(r.startup_ms);
    std::this_thread::sleep_for(200ms);  // let the ledger take the new agent's first rows
  }
  const double true_age_s = stuck.age_s(mono_now_ns());
  const double bracket_ms = (static_cast<double>(stuck.after_ns) - stuck.before_ns) / 1e6;
  // Nothing lost: once released, the stuck read is counted once with the
  // latency it really had, by the agent that never saw it start.
  disk.release();
  auto after = agent->wait_state(disk.loop_name(), "slow", 5s);
  REQUIRE(after);
  INFO(after->dump());
  CHECK((*after)["ios"] == 1);
  CHECK((*after)["max_latency_s"].get<double>() >= true_age_s * 0.99);
  for (const auto& e : agent->events()) {
    INFO(e.dump());
    CHECK(e.value("level", "") != "error");
  }
  CHECK(agent->stop() == 0);
  const auto lag = sanwatch::test::spread(ready_lag), err = sanwatch::test::spread(age_err),
             bl = sanwatch::test::spread(blind), up = sanwatch::test::spread(startup);
  WARN(fmt::format(
      "kill -9 x{}: ready -> stalled {:.1f} / {:.1f} / {:.1f} ms (min/median/max; negative = "
      "before ready); reported age - true age {:.2f} / {:.2f} / {:.2f} ms (issue bracket {:.2f} "
      "ms); kill -> stalled again {:.0f} / {:.0f} / {:.0f} ms; exec -> ready {:.0f} / {:.0f} / "
      "{:.0f} ms",
      kRestarts, lag.min, lag.median, lag.max, err.min, err.median, err.max, bracket_ms, bl.min,
      bl.median, bl.max, up.min, up.median, up.max));
  sanwatch::test::print_fault_row(
      "kill -9 of the agent during a stall",
      fmt::format("SIGKILL x{}, restart on the same config and ledger, one read stalled {:.1f} s",
                  kRestarts, true_age_s),
      fmt::format("stalled at start each time, age within {:.1f} ms of the truth",
                  std::max(std::abs(err.min), std::abs(err.max))),
      fmt::format("no stall; detection blind from kill to restart (median {:.0f} ms)", bl.median),
      {{"restarts", kRestarts},
       {"ready_to_stalled_ms", to_json(lag)},
       {"age_error_ms", to_json(err)},
       {"issue_bracket_ms", bracket_ms},
       {"kill_to_stalled_ms", to_json(bl)},
       {"exec_to_ready_ms", to_json(up)}});
}
