// SPDX-License-Identifier: Apache-2.0
// Fault: the BPF ring buffer overflows. Every slow or failed I/O sends one
// event through it; a burst of slow I/O completing at once (an array that
// held its queue and lets it go) sends more than the ring holds, and the
// rest are dropped. The drops must be counted and logged once, and no state
// may depend on the ring: stalls come from the in-flight map, slow and error
// counts from the per-CPU counters. The ring is shrunk to one page
// (tracing.ring_buffer_bytes = 4096: 73 events) so that a loop device's queue
// depth of held reads, released together on a few devices, overflows it.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "metrics_text.h"
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

constexpr double kStallS = 1.0;
constexpr auto kReadDelay = 100ms;  // every burst read is slow (slow_io 50ms)
constexpr unsigned kRingBytes = 4096;
const char* const kLossLog = "BPF ring buffer full";

std::string config_for(const std::vector<std::unique_ptr<FaultDisk>>& disks) {
  std::string include;
  for (const auto& d : disks)
    include += fmt::format("{}\"{}\"", include.empty() ? "" : ", ", d->loop_name());
  // slow_share 0.5: a burst disk is slow only if at least half of its
  // completions are counted as slow; all of them are.
  // The burst disks' held reads must never count as a stall, however long
  // a loaded machine takes to issue them: their own stall threshold is 5 s.
  std::string bursts;
  for (std::size_t i = 0; i + 1 < disks.size(); ++i)
    bursts += fmt::format("{}\"{}\"", bursts.empty() ? "" : ", ", disks[i]->loop_name());
  return fmt::format(
      "[devices]\ninclude = [{}]\n[thresholds]\nstall = \"1s\"\nrecovery = \"300ms\"\n"
      "slow_io = \"50ms\"\nslow_share = 0.5\nslow_window = \"1s\"\n[canary]\ntargets = \"none\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\n[tracing]\nring_buffer_bytes = {}\n"
      "[[override]]\nmatch = [{}]\nstall = \"5s\"\n",
      include, kRingBytes, bursts);
}

double metric(AgentProcess& agent, const std::string& name) {
  const auto body = agent.scrape();
  REQUIRE(body);
  const double v = sanwatch::test::metric_sample(*body, name);
  REQUIRE(v >= 0);
  return v;
}

// Reads the agent's lines until `done` holds over those from `mark` on.
bool wait_events(AgentProcess& agent, std::size_t mark,
                 const std::function<bool(const std::vector<json>&)>& done,
                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto& ev = agent.events();
    if (done(std::vector<json>(ev.begin() + static_cast<long>(mark), ev.end()))) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    agent.wait_line([](const json&) { return true; }, 100ms);
  }
}

const json* state_to(const std::vector<json>& ev, const std::string& target,
                     const std::string& to) {
  for (const auto& e : ev)
    if (e.value("event", "") == "state" && e.value("target", "") == target &&
        e.value("to", "") == to)
      return &e;
  return nullptr;
}

std::string last_state(const AgentProcess& agent, const std::string& target) {
  auto s = agent.states(target);
  return s.empty() ? "ok" : s.back().value("to", "");
}

// The loop device's queue depth: how many reads it holds at once.
unsigned queue_depth(const FaultDisk& d) {
  std::ifstream f("/sys/block/" + d.loop_name() + "/queue/nr_requests");
  unsigned n = 0;
  f >> n;
  return std::clamp(n, 1u, 128u);
}

// `per_disk` O_DIRECT reads held on each disk, released together: they
// complete within a few ms of each other, each ~kReadDelay after release.
class Burst {
 public:
  Burst(std::vector<FaultDisk*> disks, unsigned per_disk) : disks_(std::move(disks)) {
    for (FaultDisk* d : disks_) {
      d->stall();
      for (unsigned i = 0; i < per_disk; ++i)
        threads_.emplace_back([dev = d->loop_device(), i] {
          sanwatch::test::DirectIo io(dev);
          io.read(std::uint64_t{i} * 8192);  // 8 KiB apart: no two merge
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (FaultDisk* d : disks_)
      while (sanwatch::test::kernel_inflight(*d) < per_disk &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(2ms);
    for (FaultDisk* d : disks_) held_ += sanwatch::test::kernel_inflight(*d);
  }
  void release() {
    for (FaultDisk* d : disks_) d->release();
  }
  unsigned held() const { return held_; }
  ~Burst() {
    release();
    for (auto& t : threads_) t.join();
  }

 private:
  std::vector<FaultDisk*> disks_;
  std::vector<std::thread> threads_;
  unsigned held_ = 0;
};

struct Round {
  double lag_ms = 0;
  unsigned ios = 0;          // slow reads completed in the burst
  double dropped = 0;        // events the counter says were lost
  int wrong = 0;             // states missed or wrong
  double slow_after_ms = 0;  // release -> the last burst disk's `slow`
};

// A stall on `stall_disk` (the last of the disks) whose threshold crossing meets a burst of slow
// completions on the burst disks: the stall must be reported with its normal
// lag, every burst disk `slow` (never stalled or failed), all back to ok.
Round run_round(AgentProcess& agent, FaultDisk& stall_disk,
                const std::vector<std::unique_ptr<FaultDisk>>& burst_disks, unsigned per_disk) {
  Round r;
  const double drops0 = metric(agent, "sanwatch_bpf_ringbuf_dropped_events_total");
  const std::size_t mark = agent.events().size();
  std::vector<FaultDisk*> bd;
  for (const auto& d : burst_disks) bd.push_back(d.get());
  std::uint64_t released_ns = 0;
  {
    sanwatch::test::StuckRead stuck(stall_disk);
    const auto cross = std::chrono::steady_clock::now() + std::chrono::duration<double>(kStallS);
    std::this_thread::sleep_until(cross - 500ms);
    Burst burst(bd, per_disk);
    r.ios = burst.held();
    // Completions land around the stall's crossing.
    std::this_thread::sleep_until(cross - kReadDelay);
    released_ns = mono_now_ns();
    burst.release();
    const bool all = wait_events(
        agent, mark,
        [&](const std::vector<json>& ev) {
          if (!state_to(ev, stall_disk.loop_name(), "stalled")) return false;
          return std::all_of(bd.begin(), bd.end(), [&](FaultDisk* d) {
            return state_to(ev, d->loop_name(), "slow") != nullptr;
          });
        },
        10s);
    const std::vector<json> ev(agent.events().begin() + static_cast<long>(mark),
                               agent.events().end());
    const json* st = state_to(ev, stall_disk.loop_name(), "stalled");
    REQUIRE(st);
    INFO(st->dump());
    r.lag_ms = ((*st)["inflight_oldest_s"].get<double>() - kStallS) * 1e3;
    for (FaultDisk* d : bd) {
      const json* s = state_to(ev, d->loop_name(), "slow");
      if (!s) {
        ++r.wrong;
        UNSCOPED_INFO(d->loop_name() << " never reported slow");
        continue;
      }
      r.slow_after_ms = std::max(
          r.slow_after_ms, (s->value("mono_ns", 0.0) - static_cast<double>(released_ns)) / 1e6);
    }
    CHECK(all);
  }
  // Back to ok, all of them; nothing stalled or failed but the stall disk.
  CHECK(wait_events(
      agent, mark,
      [&](const std::vector<json>&) {
        if (last_state(agent, stall_disk.loop_name()) != "ok") return false;
        return std::all_of(bd.begin(), bd.end(),
                           [&](FaultDisk* d) { return last_state(agent, d->loop_name()) == "ok"; });
      },
      15s));
  const std::vector<json> ev(agent.events().begin() + static_cast<long>(mark),
                             agent.events().end());
  for (FaultDisk* d : bd)
    for (const char* bad : {"stalled", "failed"})
      if (const json* s = state_to(ev, d->loop_name(), bad)) {
        ++r.wrong;
        UNSCOPED_INFO("burst disk went " << bad << ": " << s->dump());
      }
  if (state_to(ev, stall_disk.loop_name(), "failed")) ++r.wrong;
  for (FaultDisk* d : bd)
    if (last_state(agent, d->loop_name()) != "ok") ++r.wrong;
  // The counter is copied for scrapes every second.
  double drops1 = drops0;
  sanwatch::test::eventually(
      [&] {
        drops1 = metric(agent, "sanwatch_bpf_ringbuf_dropped_events_total");
        return drops1 > drops0;
      },
      3s, 200ms);
  r.dropped = drops1 - drops0;
  return r;
}

}  // namespace

TEST_CASE("faults: ring buffer overflow: a burst of slow I/O drops events and states stay right") {
  sanwatch::test::require_privileged("ring buffer overflow fault test");
  const bool full = sanwatch::test::full_fault_run();
  const int rounds = full ? 10 : 3;
  const int baseline_stalls = full ? 5 : 2;
  const std::size_t nr_burst = 4;
  std::vector<std::unique_ptr<FaultDisk>> disks;
  for (std::size_t i = 0; i < nr_burst + 1; ++i) disks.push_back(std::make_unique<FaultDisk>());
  FaultDisk& stall_disk = *disks.back();
  std::vector<std::unique_ptr<FaultDisk>> burst_disks;
  const unsigned per_disk = queue_depth(*disks.front());
  AgentProcess agent(config_for(disks));
  for (std::size_t i = 0; i < nr_burst; ++i) {
    disks[i]->set_read_delay(kReadDelay);
    burst_disks.push_back(std::move(disks[i]));
  }

  std::vector<double> base_lag;
  for (int i = 0; i < baseline_stalls; ++i)
    base_lag.push_back(sanwatch::test::stall_lag_ms(agent, stall_disk, kStallS));
  const double drops_before = metric(agent, "sanwatch_bpf_ringbuf_dropped_events_total");

  std::vector<double> burst_lag, dropped, slow_after;
  unsigned produced = 0;
  int wrong = 0;
  for (int i = 0; i < rounds; ++i) {
    const Round r = run_round(agent, stall_disk, burst_disks, per_disk);
    burst_lag.push_back(r.lag_ms);
    dropped.push_back(r.dropped);
    slow_after.push_back(r.slow_after_ms);
    produced += r.ios;
    wrong += r.wrong;
  }
  const double drops_total =
      metric(agent, "sanwatch_bpf_ringbuf_dropped_events_total") - drops_before;
  std::vector<json> loss_lines;
  for (const auto& e : agent.events())
    if (e.value("msg", "").find(kLossLog) != std::string::npos) loss_lines.push_back(e);
  CHECK(agent.process().running());
  CHECK(agent.stop() == 0);

  const auto lb = sanwatch::test::spread(base_lag), lu = sanwatch::test::spread(burst_lag),
             dr = sanwatch::test::spread(dropped), sa = sanwatch::test::spread(slow_after);
  WARN(fmt::format(
      "ring buffer {} B, {} rounds of {} x {} slow reads released together: {} I/Os, {} events "
      "dropped (per round {:.0f} / {:.0f} / {:.0f}); stall lag baseline {:.1f} / {:.1f} / {:.1f} "
      "ms, during the burst {:.1f} / {:.1f} / {:.1f} ms; release -> last disk slow {:.0f} / {:.0f} "
      "/ {:.0f} ms; {} wrong state(s); {} loss log line(s)",
      kRingBytes, rounds, nr_burst, per_disk, produced, drops_total, dr.min, dr.median, dr.max,
      lb.min, lb.median, lb.max, lu.min, lu.median, lu.max, sa.min, sa.median, sa.max, wrong,
      loss_lines.size()));
  // The ring overflowed and the counter says so (every round so far: 4 x 128
  // completions within a few ms against 73 events of room).
  CHECK(drops_total > 0);
  CHECK(drops_total < produced);
  // States as without the overflow.
  CHECK(wrong == 0);
  CHECK(lu.max < lb.max + 250);
  // Disks whose events were all lost are slow at once too: the agent reads
  // the counts when it sees losses, not at the next second's refresh.
  CHECK(sa.max < std::chrono::duration<double, std::milli>(kReadDelay).count() + 500);
  // One log line for the whole episode, not one per lost event.
  CHECK(loss_lines.size() == 1);
  if (!loss_lines.empty()) CHECK(loss_lines.front().value("level", "") == "warn");
  sanwatch::test::print_fault_row(
      "ring buffer overflow (a burst of slow I/O events)",
      fmt::format("ring_buffer_bytes {} (73 events); {} bursts of {} x {} O_DIRECT reads held, "
                  "released together ({} slow I/Os), each meeting a {} s stall on another disk",
                  kRingBytes, rounds, nr_burst, per_disk, produced, kStallS),
      fmt::format("{:.0f} events dropped and counted, {} log line; stall lag {:.0f} ms during "
                  "bursts vs {:.0f} ms baseline (max); every burst disk slow, all back to ok; "
                  "{} wrong state(s)",
                  drops_total, loss_lines.size(), lu.max, lb.max, wrong),
      fmt::format("{:.0f} of {} slow-I/O events (their latency and completion time for the "
                  "evidence and the impairment clock; not their counts)",
                  drops_total, produced),
      {{"ring_buffer_bytes", kRingBytes},
       {"ios_produced", produced},
       {"events_dropped", drops_total},
       {"dropped_per_round", to_json(dr)},
       {"stall_lag_ms", {{"baseline", to_json(lb)}, {"burst", to_json(lu)}}},
       {"release_to_slow_ms", to_json(sa)},
       {"wrong_states", wrong},
       {"loss_log_lines", loss_lines.size()}});
}
