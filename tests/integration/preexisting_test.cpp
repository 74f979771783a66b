// SPDX-License-Identifier: Apache-2.0
// I/O that was already outstanding when sanwatch attached (issue: blind at
// start): `hist` and `run` must see it with its true age, count its
// completion once, and leave no phantom stall behind when attaching races
// with a stream of fast I/O.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "hist_process.h"
#include "kernel/histogram.h"
#include "privileged.h"
#include "process.h"
#include "sanitizers.h"
#include "stuck_read.h"

using namespace std::chrono_literals;
using sanwatch::LatencyHistogram;
using sanwatch::test::AgentProcess;
using sanwatch::test::ChildProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::FaultDisk;
using sanwatch::test::kernel_inflight;
using sanwatch::test::mono_now_ns;
using sanwatch::test::start_hist;
using sanwatch::test::StuckRead;
using Stream = ChildProcess::Stream;
using json = nlohmann::json;

namespace {

double secs(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

json next_report(ChildProcess& p) {
  auto line = p.read_line(Stream::kStdout, 5s);
  INFO("stderr: " << p.captured(Stream::kStderr));
  REQUIRE(line);
  return json::parse(*line);
}

// The device's entry for "read", or the only one.
json entry(const json& report) {
  for (const auto& h : report["histograms"])
    if (h["op"] == "read") return h;
  return report["histograms"][0];
}

int bucket(double s) { return static_cast<int>(LatencyHistogram::bucket_of(s * 1e9)); }

// Reports until the stuck read's completion shows up; checks it counted
// once with the latency it really had.
void check_completion_counted(ChildProcess& hist, const StuckRead& r, std::uint64_t release_ns) {
  json e;
  for (int i = 0; i < 20; ++i) {
    e = entry(next_report(hist));
    if (e["count"].get<int>() > 0) break;
  }
  INFO(e.dump());
  REQUIRE(e["count"].get<int>() == 1);
  const double max_s = e["max_s"].get<double>();
  const double lo = secs(release_ns - r.after_ns), hi = secs(mono_now_ns() - r.before_ns);
  CHECK(max_s >= lo * 0.99);
  CHECK(bucket(max_s) <= bucket(hi));
}

}  // namespace

TEST_CASE("hist: a read stalled before it started shows its true age and counts once") {
  sanwatch::test::require_privileged("hist pre-existing I/O test");
  FaultDisk disk;
  StuckRead stuck(disk);
  std::this_thread::sleep_for(1200ms);
  auto hist = start_hist({"-d", disk.loop_device(), "-i", "0.2"});
  const json first = entry(next_report(*hist));
  const std::uint64_t at = mono_now_ns();
  INFO(first.dump());
  CHECK(first["outstanding_at_start"] == 1);
  CHECK_FALSE(first.contains("inflight_oldest_at_least"));
  // True age: at least the time since the read was surely issued (the report
  // was rendered before `at`: allow its interval), at most since before.
  const double age = first["inflight_oldest_s"].get<double>();
  CHECK(age >= secs(at - stuck.after_ns) - 0.25);
  CHECK(age <= secs(at - stuck.before_ns));
  CHECK(bucket(age) >= bucket(1.2));
  disk.release();
  check_completion_counted(*hist, stuck, mono_now_ns());
  hist->send_signal(SIGINT);
  CHECK(hist->wait(10s) == 0);
}

TEST_CASE("hist --no-seed: pre-existing I/O is counted as a lower bound, never 'nothing'") {
  sanwatch::test::require_privileged("hist pre-existing fallback test");
  FaultDisk disk;
  StuckRead stuck(disk);
  std::this_thread::sleep_for(800ms);
  auto hist = start_hist({"-d", disk.loop_device(), "-i", "0.2", "--no-seed"});
  const json first = entry(next_report(*hist));
  INFO(first.dump());
  CHECK(first["outstanding_at_start"] == 1);
  CHECK(first["inflight_oldest_at_least"] == true);
  CHECK(first["inflight_preexisting"] == 1);
  // A lower bound: the time since tracing began, short of the true age.
  const double age = first["inflight_oldest_s"].get<double>();
  CHECK(age > 0);
  CHECK(age < secs(mono_now_ns() - stuck.after_ns));
  disk.release();
  // Its completion still counts, by the kernel's own start time.
  check_completion_counted(*hist, stuck, mono_now_ns());
  const json after = entry(next_report(*hist));
  CHECK(after["inflight_oldest_s"] == 0.0);
  CHECK_FALSE(after.contains("inflight_oldest_at_least"));
  hist->send_signal(SIGINT);
  CHECK(hist->wait(10s) == 0);
}

TEST_CASE("hist: text output names what was outstanding when tracing started") {
  sanwatch::test::require_privileged("hist pre-existing text test");
  FaultDisk disk;
  StuckRead stuck(disk);
  std::this_thread::sleep_for(300ms);
  ChildProcess hist({SANWATCH_BIN, "hist", "-d", disk.loop_device(), "-i", "0.2", "-c", "1"});
  auto line = hist.wait_for_line(Stream::kStdout, "when tracing started", 20s);
  INFO(hist.captured(Stream::kStdout) << hist.captured(Stream::kStderr));
  REQUIRE(line);
  CHECK(line->find(disk.loop_name() + ": 1 I/O outstanding when tracing started, oldest") == 0);
  REQUIRE(hist.wait(10s) == 0);
  CHECK(hist.captured(Stream::kStdout).find("nothing outstanding") == std::string::npos);
  disk.release();
}

TEST_CASE("run: a stall under way at start, and again after kill -9, is stalled at once") {
  sanwatch::test::require_privileged("run pre-existing stall test");
  FaultDisk disk;
  StuckRead stuck(disk);
  std::this_thread::sleep_for(700ms);
  const std::string cfg = fmt::format(
      "[devices]\ninclude = [\"{}\"]\n[thresholds]\nstall = \"500ms\"\nrecovery = "
      "\"300ms\"\nslow_io = \"200ms\"\n"
      "[canary]\ntargets = \"none\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      disk.loop_name());
  auto stalled_at_start = [&](AgentProcess& agent) {
    // Reported before (or right with) ready: the first scan already sees it.
    std::optional<json> ev;
    for (const auto& s : agent.states(disk.loop_name()))
      if (s["to"] == "stalled") ev = s;
    if (!ev) ev = agent.wait_state(disk.loop_name(), "stalled", 200ms);
    REQUIRE(ev);
    INFO(ev->dump());
    const double age = (*ev)["inflight_oldest_s"].get<double>();
    const std::uint64_t at = (*ev)["mono_ns"].get<std::uint64_t>();
    CHECK(age >= secs(at - stuck.after_ns) - 0.001);
    CHECK(age <= secs(at - stuck.before_ns) + 0.001);
    CHECK((*ev)["reason"].get<std::string>().find("oldest I/O outstanding for") !=
          std::string::npos);
  };
  {
    AgentProcess agent(cfg);
    stalled_at_start(agent);
    agent.process().send_signal(SIGKILL);
    agent.process().wait(5s);
  }
  AgentProcess again(cfg);
  stalled_at_start(again);
  const std::uint64_t release_ns = mono_now_ns();
  disk.release();
  // The stuck read completes: counted once, with the latency it really had
  // (so the device is slow for a while after the stall, as it should be).
  auto after = again.wait_state(disk.loop_name(), "slow", 5s);
  REQUIRE(after);
  INFO(after->dump());
  CHECK((*after)["from"] == "stalled");
  CHECK((*after)["ios"] == 1);
  CHECK((*after)["max_latency_s"].get<double>() >= secs(release_ns - stuck.after_ns) * 0.99);
  CHECK((*after)["inflight_oldest_s"] == 0.0);
  CHECK(again.stop() == 0);
}

TEST_CASE("hist attaching 50 times under fast I/O leaves no phantom outstanding I/O") {
  sanwatch::test::require_privileged("hist seeding race test");
  FaultDisk disk;
  // The race is the release build's to prove; a sanitizer tree checks the
  // same code paths for memory errors and needs fewer rounds.
  const int runs = sanwatch::test::kAsanOrTsan ? 20 : 50;
  int seeded_runs = 0;
  for (int i = 0; i < runs; ++i) {
    // A fresh fio each time, ended (not stopped: a stopped fio's io_uring
    // workers can hold requests in flight) once hist has attached.
    ChildProcess fio({"fio", "--name=race", "--filename=" + disk.loop_device(), "--direct=1",
                      "--rw=randread", "--bs=4k", "--ioengine=io_uring", "--iodepth=64",
                      "--time_based", "--runtime=60", "--thread", "--output=/dev/null"});
    std::this_thread::sleep_for(100ms);
    auto hist = start_hist({"-d", disk.loop_device(), "-i", "0.1"});
    std::this_thread::sleep_for(30ms);
    fio.send_signal(SIGTERM);
    REQUIRE(fio.wait(10s));
    // Once the kernel itself counts nothing in flight, any age is a seed
    // (or a slot) left behind.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (kernel_inflight(disk) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    REQUIRE(kernel_inflight(disk) == 0);
    json last = entry(next_report(*hist));  // may have been rendered before
    const int at_start = last["outstanding_at_start"].get<int>();
    last = entry(next_report(*hist));
    INFO("run " << i << ": " << last.dump());
    CHECK(last["inflight_oldest_s"] == 0.0);
    seeded_runs += at_start > 0;
    hist->send_signal(SIGINT);
    REQUIRE(hist->wait(5s) == 0);
  }
  WARN(seeded_runs << " of " << runs << " attaches found I/O outstanding and seeded it");
  CHECK(seeded_runs >= runs / 5);
}
