// SPDX-License-Identifier: Apache-2.0
// Fault: the alerts.exec hook hangs (sleeps forever) or floods its output
// (writes without end). Each run must be killed at exec_timeout and reaped,
// and the agent must not notice: stall detection lag as without hooks,
// /metrics answering while hooks hang, and no memory growth from the flood
// (a run's output is kept up to 4 KiB for the log, the rest is read and
// dropped).
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "agent_process.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "privileged.h"
#include "process.h"
#include "stall_probe.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::mono_now_ns;
using json = nlohmann::json;

namespace {

constexpr double kStallS = 0.5;
constexpr int kCycles = 3;        // stalls per phase; each makes 2 state events
constexpr int kTimeoutMs = 1000;  // exec_timeout

std::string config_for(const FaultDisk& d, const std::string& hook) {
  std::string alerts;
  if (!hook.empty())
    alerts = fmt::format("[alerts]\nexec = [\"{}\"]\nexec_timeout = \"{}ms\"\n", hook, kTimeoutMs);
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\n[thresholds]\nstall = \"500ms\"\nrecovery = \"300ms\"\n"
      "slow_io = \"200ms\"\nslow_window = \"1s\"\n[canary]\ntargets = \"none\"\n[metrics]\n"
      "listen = \"127.0.0.1:0\"\n{}",
      d.loop_name(), alerts);
}

std::string script(const std::string& dir, const std::string& name, const std::string& body) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  REQUIRE(chmod(path.c_str(), 0755) == 0);
  return path;
}

void reload(AgentProcess& agent, const std::string& toml) {
  agent.rewrite_config(toml);
  agent.process().send_signal(SIGHUP);
  REQUIRE(agent.wait_log("configuration reloaded", 3s));
}

// Seconds one GET of /metrics takes; fails the test if it does not answer.
double scrape_s(AgentProcess& agent) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = sanwatch::test::run_command({"curl", "-sf", "--max-time", "3", agent.metrics_url()}, 5s);
  CHECK(r.ok());
  CHECK(r.out.find("sanwatch_state{") != std::string::npos);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Phase {
  std::vector<double> lag_ms, scrape_ms, kill_after_ms;
  std::size_t max_output = 0;  // bytes of a killed run's output in its log line
  double agent_cpu_s = 0;      // what the agent's threads used during the phase
};

void collect_kills(const AgentProcess& agent, std::size_t from, Phase& p) {
  const auto& ev = agent.events();
  for (std::size_t i = from; i < ev.size(); ++i) {
    if (ev[i].value("msg", "") != "exec hook killed at its timeout") continue;
    p.kill_after_ms.push_back(ev[i]["after_ms"].get<double>());
    p.max_output = std::max(p.max_output, ev[i].value("output", "").size());
  }
}

// kCycles stalls, a scrape while each is stalled (with hook runs going),
// then every run of the phase killed at its timeout.
Phase run_phase(AgentProcess& agent, FaultDisk& disk, bool hooks) {
  Phase p;
  const std::size_t mark = agent.events().size();
  const double cpu0 = sanwatch::test::proc_cpu_s(agent.pid());
  for (int i = 0; i < kCycles; ++i) {
    {
      sanwatch::test::StuckRead r(disk);
      auto ev = agent.wait_state(disk.loop_name(), "stalled", 10s);
      REQUIRE(ev);
      p.lag_ms.push_back(((*ev)["inflight_oldest_s"].get<double>() - kStallS) * 1e3);
      p.scrape_ms.push_back(scrape_s(agent) * 1e3);
    }
    REQUIRE(agent.wait_state(disk.loop_name(), "ok", 15s));
  }
  p.agent_cpu_s = sanwatch::test::proc_cpu_s(agent.pid()) - cpu0;
  if (!hooks) return p;
  // One run per state event of the phase; wait until each was killed.
  const auto count = [&](const std::function<bool(const json&)>& f) {
    int n = 0;
    for (std::size_t i = mark; i < agent.events().size(); ++i) n += f(agent.events()[i]);
    return n;
  };
  const int runs = count([](const json& e) { return e.value("event", "") == "state"; });
  const auto killed = [](const json& e) {
    return e.value("msg", "") == "exec hook killed at its timeout";
  };
  while (count(killed) < runs && agent.wait_line(killed, 10s)) {
  }
  collect_kills(agent, mark, p);
  p.agent_cpu_s = sanwatch::test::proc_cpu_s(agent.pid()) - cpu0;
  return p;
}

}  // namespace

TEST_CASE(
    "faults: a hanging or flooding exec hook is killed at its timeout, the agent unaffected") {
  sanwatch::test::require_privileged("exec hook fault test");
  sanwatch::test::TempDir dir{"sanwatch-faults"};
  const std::string hang = script(dir.path(), "hang.sh", "exec sleep 3600");
  const std::string flood = script(dir.path(), "flood.sh", "exec yes sanwatch-exec-hook-flood");
  FaultDisk disk;
  AgentProcess agent(config_for(disk, ""));
  const pid_t pid = agent.pid();
  const Phase base = run_phase(agent, disk, false);

  reload(agent, config_for(disk, hang));
  const Phase hung = run_phase(agent, disk, true);
  const auto& hang_kills = hung.kill_after_ms;

  const auto rss_before = sanwatch::test::proc_status_kib(pid, "VmRSS");
  reload(agent, config_for(disk, flood));
  const Phase flooded = run_phase(agent, disk, true);
  const auto& flood_kills = flooded.kill_after_ms;
  const auto rss_after = sanwatch::test::proc_status_kib(pid, "VmRSS");
  // Killed and reaped: nothing of the hooks is left, not even a zombie.
  CHECK(sanwatch::test::eventually([&] { return sanwatch::test::proc_children(pid) == 0; }, 3s,
                                   50ms));
  CHECK(agent.process().running());
  CHECK(agent.stop() == 0);

  const auto states = agent.states(disk.loop_name()).size();
  CHECK(hang_kills.size() >= std::size_t{kCycles * 2});
  CHECK(flood_kills.size() >= std::size_t{kCycles * 2});
  for (const double ms : hang_kills) CHECK(ms < kTimeoutMs + 250);
  for (const double ms : flood_kills) CHECK(ms < kTimeoutMs + 250);
  const auto lb = sanwatch::test::spread(base.lag_ms), lh = sanwatch::test::spread(hung.lag_ms),
             lf = sanwatch::test::spread(flooded.lag_ms);
  CHECK(lh.max < lb.max + 250);
  CHECK(lf.max < lb.max + 250);
  CHECK(rss_after < rss_before + 4096);
  // The flood reached the agent, which kept 4 KiB of it for the log, and
  // cost it little CPU (it used to be half a core per flooding run).
  CHECK(flooded.max_output == 4096);
  CHECK(flooded.agent_cpu_s < hung.agent_cpu_s + 0.5);
  const auto kh = sanwatch::test::spread(hang_kills), kf = sanwatch::test::spread(flood_kills);
  const auto sh = sanwatch::test::spread(hung.scrape_ms),
             sf = sanwatch::test::spread(flooded.scrape_ms);
  WARN(fmt::format(
      "exec hook, exec_timeout {} ms: hanging runs killed after {:.0f} / {:.0f} / {:.0f} ms "
      "(n={}), flooding runs after {:.0f} / {:.0f} / {:.0f} ms (n={}); stall lag max: no hook "
      "{:.1f} ms, hanging {:.1f} ms, flooding {:.1f} ms; scrape while hooks run max {:.0f} / "
      "{:.0f} ms; agent RSS {} -> {} KiB across the flood; agent CPU per phase {:.2f} / {:.2f} / "
      "{:.2f} s (none/hang/flood); {} state events",
      kTimeoutMs, kh.min, kh.median, kh.max, hang_kills.size(), kf.min, kf.median, kf.max,
      flood_kills.size(), lb.max, lh.max, lf.max, sh.max, sf.max, rss_before, rss_after,
      base.agent_cpu_s, hung.agent_cpu_s, flooded.agent_cpu_s, states));
  sanwatch::test::print_fault_row(
      "exec hook hanging or flooding its output",
      fmt::format("alerts.exec = sleep 3600, then yes (endless stdout); exec_timeout {} ms; {} "
                  "stalls each",
                  kTimeoutMs, kCycles),
      fmt::format("every run killed at {:.0f}-{:.0f} ms and reaped; stall lag {:.0f} / {:.0f} / "
                  "{:.0f} ms (none/hang/flood)",
                  std::min(kh.min, kf.min), std::max(kh.max, kf.max), lb.max, lh.max, lf.max),
      fmt::format("the hooks' output past 4 KiB (by design); RSS {:+} KiB",
                  static_cast<long long>(rss_after) - static_cast<long long>(rss_before)),
      {{"exec_timeout_ms", kTimeoutMs},
       {"hang_kill_ms", to_json(kh)},
       {"flood_kill_ms", to_json(kf)},
       {"stall_lag_ms_max", {{"none", lb.max}, {"hang", lh.max}, {"flood", lf.max}}},
       {"scrape_ms_max", {{"hang", sh.max}, {"flood", sf.max}}},
       {"rss_kib_before", rss_before},
       {"rss_kib_after", rss_after},
       {"agent_cpu_s",
        {{"none", base.agent_cpu_s}, {"hang", hung.agent_cpu_s}, {"flood", flooded.agent_cpu_s}}}});
}
