// SPDX-License-Identifier: Apache-2.0
// Fault: loop devices attached and detached in a loop (issue: 500 devices
// for 60 s; CI: 60 devices for 2 x 5 s), every one watched by a glob with a
// canary on it, so the agent takes a BPF slot, in-flight slots and canary
// probes (device opens) for each one it sees. Every device the agent saw
// must be reported `gone` once detached; afterwards its descriptors and
// BPF slots in use must be back where they were and its RSS flat across the
// second half of the churn; a fault-disk loop watched throughout is stalled
// during the churn and must be flagged with the lag it has without churn.
#include "loop_churn.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "agent_process.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "loop_pool.h"
#include "metrics_text.h"
#include "privileged.h"
#include "process.h"
#include "stall_probe.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::LoopChurn;
using sanwatch::test::LoopPool;
using json = nlohmann::json;

namespace {

constexpr double kStallS = 0.5;
constexpr unsigned kFirst = 1000;  // /dev/loop1000...: far above what losetup -f hands out
constexpr const char* kGlob = "loop1[0-4][0-9][0-9]";

struct Scale {
  unsigned devices;
  std::chrono::milliseconds round;  // two rounds of churn
  int stalls;                       // per phase (baseline, each round)
};

Scale scale() { return sanwatch::test::full_fault_run() ? Scale{500, 30s, 5} : Scale{60, 5s, 2}; }

// Canaries on every device, every 100 ms; the churned loops recover at once
// (recovery 0: each attachment the agent sees is one gone -> ok, each
// detachment one -> gone), the fault disk has no canary (its stall lag is
// the tracepoints', as in the other fault tests).
std::string config_for(const FaultDisk& d) {
  return fmt::format(
      "[devices]\ninclude = [\"{0}\", \"{1}\"]\n"
      "[thresholds]\nstall = \"500ms\"\nrecovery = \"300ms\"\nslow_io = \"200ms\"\n"
      "slow_window = \"1s\"\n[canary]\ntargets = \"all\"\nperiod = \"100ms\"\n"
      "deadline = \"250ms\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
      "[[override]]\nmatch = [\"{1}\"]\nrecovery = \"0s\"\n"
      "[[override]]\nmatch = [\"{0}\"]\ncanary = false\n",
      d.loop_name(), kGlob);
}

// Reads the agent's output for `d` (it must never block writing its log).
void pump(AgentProcess& agent, std::chrono::milliseconds d) {
  agent.wait_line([](const json&) { return false; }, d);
}

// sanwatch_bpf_slots{kind,state} from /metrics; nullopt when absent.
std::optional<double> slots(AgentProcess& agent, const std::string& kind,
                            const std::string& state) {
  const double v = sanwatch::test::metric_sample(
      agent.scrape().value_or(""),
      fmt::format("sanwatch_bpf_slots{{kind=\"{}\",state=\"{}\"}}", kind, state));
  if (v < 0) return std::nullopt;
  return v;
}

struct Figures {
  int fds = 0;
  unsigned long long rss_kib = 0;
  double device_slots = 0, inflight_slots = 0, device_capacity = 0, inflight_capacity = 0;
};

// Settled figures: the scrape publishes the engine's slots once a second,
// and the descriptors of a closing canary or scrape take a moment to go, so
// both are polled until they reach `want` (or time out, and are what they
// are).
Figures figures(AgentProcess& agent, const std::optional<Figures>& want = std::nullopt) {
  Figures f;
  const pid_t pid = agent.pid();
  const auto read = [&] {
    pump(agent, 100ms);
    f.device_slots = slots(agent, "device", "used").value_or(-1);
    f.inflight_slots = slots(agent, "inflight", "used").value_or(-1);
    f.fds = sanwatch::test::proc_fd_count(pid);
    return !want || (f.fds <= want->fds && f.device_slots == want->device_slots &&
                     f.inflight_slots == want->inflight_slots);
  };
  sanwatch::test::eventually(read, want ? 5s : 0ms, 300ms);
  f.device_capacity = slots(agent, "device", "capacity").value_or(-1);
  f.inflight_capacity = slots(agent, "inflight", "capacity").value_or(-1);
  f.rss_kib = sanwatch::test::proc_status_kib(pid, "VmRSS");
  return f;
}

json to_json(const Figures& f) {
  return {{"fds", f.fds},
          {"rss_kib", f.rss_kib},
          {"device_slots_used", f.device_slots},
          {"inflight_slots_used", f.inflight_slots},
          {"device_slots_capacity", f.device_capacity},
          {"inflight_slots_capacity", f.inflight_capacity}};
}

// What the agent said about one churned device, in order: 'P' when it saw
// it attached (its first "watching" line, or a state leaving gone), 'G'
// when it reported it gone; with each marker's mono_ns.
std::vector<std::pair<char, std::uint64_t>> markers(const AgentProcess& agent,
                                                    const std::string& name) {
  std::vector<std::pair<char, std::uint64_t>> out;
  for (const json& e : agent.events()) {
    const std::uint64_t at = e.value("mono_ns", std::uint64_t{0});
    if (e.value("msg", "") == "watching " + name) out.emplace_back('P', at);  // no "target" field
    if (e.value("event", "") != "state" || e.value("target", "") != name) continue;
    if (e.value("to", "") == "gone")
      out.emplace_back('G', at);
    else if (e.value("from", "") == "gone")
      out.emplace_back('P', at);
  }
  return out;
}

struct Tally {
  std::size_t episodes = 0, seen = 0, gone = 0, out_of_order = 0;
  std::vector<double> gone_ms;         // detach requested -> gone reported
  std::vector<double> unseen_life_ms;  // how long the episodes the agent never saw lived
  std::size_t missed() const { return seen > gone ? seen - gone : 0; }
};

// Matches markers to episodes: a 'P' belongs to the last episode attached
// before it, the 'G' after it to the same episode. A device's markers must
// alternate P, G, P, G ... and end with G.
void tally_device(const std::vector<LoopChurn::Episode>& eps,
                  const std::vector<std::pair<char, std::uint64_t>>& m, Tally& t) {
  t.episodes += eps.size();
  std::vector<bool> seen(eps.size(), false);
  constexpr std::size_t kNone = ~std::size_t{0};
  std::size_t open = kNone;  // the episode whose P has no G yet
  for (const auto& [kind, at] : m) {
    if (kind == 'P') {
      if (open != kNone || eps.empty()) ++t.out_of_order;
      if (eps.empty()) continue;  // the agent saw an attachment we never made
      std::size_t k = 0;
      while (k + 1 < eps.size() && eps[k + 1].attach_ns <= at) ++k;
      seen[k] = true;
      open = k;
      ++t.seen;
    } else {
      if (open == kNone) {
        ++t.out_of_order;
        continue;
      }
      ++t.gone;
      if (eps[open].detach_ns && at > eps[open].detach_ns)
        t.gone_ms.push_back((at - eps[open].detach_ns) / 1e6);
      open = kNone;
    }
  }
  for (std::size_t k = 0; k < eps.size(); ++k)
    if (!seen[k]) t.unseen_life_ms.push_back((eps[k].detach_ns - eps[k].attach_ns) / 1e6);
}

Tally tally(const AgentProcess& agent, const LoopPool& pool, const LoopChurn::Result& r) {
  Tally t;
  for (unsigned i = 0; i < pool.size(); ++i)
    tally_device(r.episodes[i], markers(agent, pool.name(i)), t);
  return t;
}

// Every detach done (the kernel defers one while a canary holds the device
// open) and every device the agent saw reported gone, or the timeout.
void settle(AgentProcess& agent, const LoopPool& pool, const LoopChurn::Result& r) {
  sanwatch::test::eventually(
      [&] {
        for (unsigned i = 0; i < pool.size(); ++i)
          if (pool.owned(i) && pool.sectors(i)) return false;
        return true;
      },
      5s, 50ms);
  sanwatch::test::eventually(
      [&] {
        pump(agent, 200ms);
        return tally(agent, pool, r).missed() == 0;
      },
      15s, 0ms);
}

LoopChurn::Result merge(const LoopChurn::Result& a, const LoopChurn::Result& b) {
  LoopChurn::Result m = a;
  for (std::size_t i = 0; i < m.episodes.size(); ++i)
    m.episodes[i].insert(m.episodes[i].end(), b.episodes[i].begin(), b.episodes[i].end());
  m.attach_errors += b.attach_errors;
  m.detach_errors += b.detach_errors;
  m.peak_attached = std::max(a.peak_attached, b.peak_attached);
  return m;
}

struct Round {
  LoopChurn::Result churn;
  std::vector<double> lag_ms;
  double agent_cpu_s = 0;
};

// One round of churn with `stalls` stalls of the fault disk spread over it;
// reads the agent's output all along.
Round churn_round(AgentProcess& agent, FaultDisk& disk, LoopPool& pool, const Scale& s,
                  unsigned seed, const LoopChurn::Result* earlier = nullptr) {
  Round r;
  const double cpu0 = sanwatch::test::proc_cpu_s(agent.pid());
  LoopChurn churn(pool, s.round, seed);
  const auto gap = s.round / (s.stalls + 1);
  for (int i = 0; i < s.stalls; ++i) {
    pump(agent, std::chrono::duration_cast<std::chrono::milliseconds>(gap));
    r.lag_ms.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));
  }
  while (!churn.done()) pump(agent, 100ms);
  r.churn = churn.result();
  // The agent's markers cover every round so far: so must the episodes.
  settle(agent, pool, earlier ? merge(*earlier, r.churn) : r.churn);
  r.agent_cpu_s = sanwatch::test::proc_cpu_s(agent.pid()) - cpu0;
  return r;
}

int count_logs(const AgentProcess& agent, const std::string& needle) {
  int n = 0;
  for (const json& e : agent.events()) n += e.value("msg", "").find(needle) != std::string::npos;
  return n;
}

// RSS may grow across the second round by at most this. Every device name
// was seen in the first round (the agent keeps a gone device's target, by
// design) and the engine already grew; what still grows is bounded: the
// ledger's SQLite page cache (2 MiB per connection by default) fills with
// the round's state changes (~900 in CI). Measured +1.0-1.4 MiB in CI
// rounds of ~300 attachments; a leak of 16 KiB per attachment would show in
// CI, one of 0.5 KiB in the full run (~8,000 attachments a round).
constexpr unsigned long long kRssBoundKib = 4096;

}  // namespace

// (No commas in the name: Catch2 splits a command-line filter at them.)
TEST_CASE("faults: loop device churn reports every gone and leaks no fd or BPF slot or memory") {
  sanwatch::test::require_privileged("loop churn fault test");
  const Scale s = scale();
  FaultDisk disk;
  LoopPool pool(kFirst, s.devices);
  AgentProcess agent(config_for(disk));

  std::vector<double> base_lag;  // without churn
  for (int i = 0; i < s.stalls; ++i)
    base_lag.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));
  const Figures before = figures(agent);
  REQUIRE(before.device_slots >= 1);  // the gauge is there, with the fault disk in it

  const Round r1 = churn_round(agent, disk, pool, s, 1);
  const Figures mid = figures(agent, before);
  const Round r2 = churn_round(agent, disk, pool, s, 2, &r1.churn);
  const Figures after = figures(agent, before);
  const LoopChurn::Result all = merge(r1.churn, r2.churn);
  const Tally t = tally(agent, pool, all);
  const int grown_dev = count_logs(agent, "BPF device slots in use: reloaded");
  const int grown_inflight = count_logs(agent, "BPF in-flight slots short");
  const int canary_full = count_logs(agent, "canary slots exhausted");
  const int untraced = count_logs(agent, "cannot trace");
  unsigned given_up = 0;
  for (unsigned i = 0; i < pool.size(); ++i) given_up += !pool.owned(i);
  CHECK(agent.process().running());
  CHECK(agent.stop() == 0);

  std::vector<double> churn_lag = r1.lag_ms;
  churn_lag.insert(churn_lag.end(), r2.lag_ms.begin(), r2.lag_ms.end());
  const auto lb = sanwatch::test::spread(base_lag), lc = sanwatch::test::spread(churn_lag);
  const auto gl = sanwatch::test::spread(t.gone_ms), ul = sanwatch::test::spread(t.unseen_life_ms);
  CHECK(all.total() >= s.devices);
  // A new device is found by the rescan a uevent asks for, at most one a
  // second (Watchdog::rescan_delay): what lived longer was seen. 3 s, as a
  // loaded machine's event loop can be late (2 s seen).
  CHECK(t.seen > 0);
  CHECK(ul.max < 3000);
  CHECK(t.missed() == 0);      // every one seen reported gone ...
  CHECK(t.out_of_order == 0);  // ... once, after it was seen
  // At once, from the detach's own uevent (one read of that disk's sysfs),
  // not at the periodic rescan (5 s, median 2.5 s): before the fix the
  // kernel's "change" uevent of a detach was ignored. The median, as one
  // gone can wait out a starved event loop on a loaded machine (2 s seen).
  CHECK(gl.median < 1000);
  CHECK(after.fds <= before.fds);
  CHECK(after.device_slots == before.device_slots);
  CHECK(after.inflight_slots == before.inflight_slots);
  CHECK(after.rss_kib <= mid.rss_kib + kRssBoundKib);
  CHECK(lc.max < lb.max + 250);
  CHECK(canary_full == 0);
  CHECK(untraced == 0);
  WARN(fmt::format(
      "loop churn: {} devices, {} attachments (peak {} at once, {} attach / {} detach errors, {} "
      "devices given up to other tests), {} seen, {} gone, {} missed, {} out of order; gone after "
      "detach {:.1f} / {:.1f} / {:.1f} ms; unseen lived {:.1f} / {:.1f} / {:.1f} ms; stall lag "
      "max {:.1f} ms without churn, {:.1f} ms during; fds {} / {} / {}; RSS {} / {} / {} KiB; "
      "device slots {} / {} / {} (capacity {}), in-flight slots {} / {} / {} (capacity {}); "
      "reloads {} device, {} in-flight; agent CPU {:.1f} / {:.1f} s per round",
      s.devices, t.episodes, all.peak_attached, all.attach_errors, all.detach_errors, given_up,
      t.seen, t.gone, t.missed(), t.out_of_order, gl.min, gl.median, gl.max, ul.min, ul.median,
      ul.max, lb.max, lc.max, before.fds, mid.fds, after.fds, before.rss_kib, mid.rss_kib,
      after.rss_kib, before.device_slots, mid.device_slots, after.device_slots,
      after.device_capacity, before.inflight_slots, mid.inflight_slots, after.inflight_slots,
      after.inflight_capacity, grown_dev, grown_inflight, r1.agent_cpu_s, r2.agent_cpu_s));
  sanwatch::test::print_fault_row(
      sanwatch::test::full_fault_run()
          ? "500 loop devices attached and detached in a loop for 60 s"
          : fmt::format("500 loop devices attached and detached (CI: {} devices for {} s)",
                        s.devices, 2 * s.round.count() / 1000),
      fmt::format("{} loop devices matched by a glob, canaries every 100 ms, attached and "
                  "detached at random ({} attachments, {} at once at most, one in five for 1-20 "
                  "ms) for 2 x {} s; a watched fault-disk loop stalled {} times meanwhile",
                  s.devices, t.episodes, all.peak_attached, s.round.count() / 1000, 2 * s.stalls),
      fmt::format("{} of {} attachments seen, each reported gone {:.0f} / {:.0f} / {:.0f} ms "
                  "after its detach; fds {} -> {}, BPF slots in use {} -> {}, RSS {:+} KiB over "
                  "the second round; stall lag {:.0f} ms (without churn {:.0f} ms)",
                  t.seen, t.episodes, gl.min, gl.median, gl.max, before.fds, after.fds,
                  before.device_slots, after.device_slots,
                  static_cast<long long>(after.rss_kib) - static_cast<long long>(mid.rss_kib),
                  lc.max, lb.max),
      fmt::format("{} gone missed; {} attachments never seen (they lived {:.0f} / {:.0f} / {:.0f} "
                  "ms): attached and detached between two of the agent's looks at sysfs",
                  t.missed(), t.episodes - t.seen, ul.min, ul.median, ul.max),
      {{"devices", s.devices},
       {"attachments", t.episodes},
       {"peak_attached", all.peak_attached},
       {"seen", t.seen},
       {"gone_reported", t.gone},
       {"gone_missed", t.missed()},
       {"gone_after_detach_ms", to_json(gl)},
       {"unseen_lifetime_ms", to_json(ul)},
       {"stall_lag_ms", {{"baseline", to_json(lb)}, {"churn", to_json(lc)}}},
       {"before", to_json(before)},
       {"mid", to_json(mid)},
       {"after", to_json(after)},
       {"engine_reloads", {{"device_slots", grown_dev}, {"inflight_slots", grown_inflight}}},
       {"agent_cpu_s", {r1.agent_cpu_s, r2.agent_cpu_s}}});
}
