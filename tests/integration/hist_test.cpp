// SPDX-License-Identifier: Apache-2.0
// `sanwatch hist` against a real loop device over the fault-injection disk.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "direct_io.h"
#include "fault_disk.h"
#include "hist_process.h"
#include "kernel/histogram.h"
#include "privileged.h"
#include "process.h"

using namespace std::chrono_literals;
using sanwatch::LatencyHistogram;
using sanwatch::test::ChildProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::FaultDisk;
using sanwatch::test::start_hist;
using Stream = ChildProcess::Stream;
using json = nlohmann::json;

namespace {

// Ctrl-C: the last interval is printed, exit status 0.
json stop_hist(ChildProcess& p) {
  p.send_signal(SIGINT);
  auto rc = p.wait(10s);
  INFO("stderr: " << p.captured(Stream::kStderr));
  REQUIRE(rc == 0);
  REQUIRE(p.wait_for_output_eof(5s));
  std::string out = p.captured(Stream::kStdout);
  auto last_nl = out.rfind('\n', out.size() - 2);
  return json::parse(out.substr(last_nl == std::string::npos ? 0 : last_nl + 1));
}

const json* entry(const json& report, const std::string& dev, const std::string& op) {
  for (const auto& h : report["histograms"])
    if (h["device"] == dev && h["op"] == op) return &h;
  return nullptr;
}

int bucket_of_seconds(double s) { return static_cast<int>(LatencyHistogram::bucket_of(s * 1e9)); }

}  // namespace

TEST_CASE("hist p50 matches injected read latency within one bucket") {
  sanwatch::test::require_privileged("hist latency test");
  FaultDisk disk;
  for (auto delay : {0ms, 1ms, 10ms, 50ms}) {
    DYNAMIC_SECTION("injected " << delay.count() << " ms") {
      disk.set_read_delay(delay);
      auto hist = start_hist({"-d", disk.loop_device(), "-o", "read"});
      DirectIo io(disk.loop_device());
      const int n = delay >= 50ms ? 20 : 60;
      std::vector<double> measured;
      for (int i = 0; i < n; ++i) measured.push_back(io.timed_read(i * 4096ull * 7));
      auto report = stop_hist(*hist);
      const json* r = entry(report, disk.loop_name(), "read");
      REQUIRE(r);
      CHECK((*r)["count"].get<int>() == n);
      std::sort(measured.begin(), measured.end());
      const double truth = measured[n / 2];
      const double p50 = (*r)["p50_s"].get<double>();
      INFO("syscall median " << truth << " s, hist p50 " << p50 << " s");
      if (delay > 0ms) {
        // The injected delay dominates: the block-layer p50 sits in the
        // bucket of the syscall-measured median, or one next to it.
        const int diff = bucket_of_seconds(truth) - bucket_of_seconds(p50);
        CHECK(diff >= -1);
        CHECK(diff <= 1);
        CHECK(bucket_of_seconds(p50) >=
              bucket_of_seconds(std::chrono::duration<double>(delay).count()) - 1);
      } else {
        // Unloaded, the ~20 us of syscall entry and task wake-up is a large
        // share of the total: the block layer sees less than the syscall, but
        // the same order.
        CHECK(p50 <= truth);
        CHECK(p50 >= truth / 3);
      }
      CHECK((*r)["max_s"].get<double>() >= p50);
      CHECK((*r)["inflight_oldest_s"].get<double>() == 0.0);
    }
  }
}

TEST_CASE("hist shows the oldest outstanding I/O growing during a stall") {
  sanwatch::test::require_privileged("hist stall test");
  FaultDisk disk;
  auto hist = start_hist({"-d", disk.loop_device(), "-i", "0.2"});
  disk.stall();
  std::thread reader([&] {
    DirectIo io(disk.loop_device());
    io.timed_read(0);
  });
  std::vector<double> ages;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto line = hist->read_line(Stream::kStdout, 2s);
    REQUIRE(line);
    auto r = json::parse(*line);
    ages.push_back(r["histograms"][0]["inflight_oldest_s"].get<double>());
    if (ages.back() > 1.0) break;
  }
  disk.release();
  reader.join();
  REQUIRE(ages.size() >= 3);
  CHECK(ages.back() > 1.0);
  // Strictly growing once the stuck read appeared.
  auto first = std::find_if(ages.begin(), ages.end(), [](double a) { return a > 0; });
  REQUIRE(first != ages.end());
  CHECK(std::is_sorted(first, ages.end()));
  // After release: nothing outstanding.
  bool cleared = false;
  for (int i = 0; i < 10 && !cleared; ++i) {
    auto line = hist->read_line(Stream::kStdout, 2s);
    REQUIRE(line);
    cleared = json::parse(*line)["histograms"][0]["inflight_oldest_s"].get<double>() == 0.0;
  }
  CHECK(cleared);
  auto report = stop_hist(*hist);
  (void)report;
}

TEST_CASE("hist counts I/O errors under the failing operation") {
  sanwatch::test::require_privileged("hist EIO test");
  FaultDisk disk;
  auto hist = start_hist({"-d", disk.loop_device()});
  disk.add_eio_range(0, 1 << 20, "read");
  DirectIo io(disk.loop_device());
  int failed = 0;
  for (int i = 0; i < 5; ++i) failed += io.read(i * 4096ull) < 0;
  for (int i = 0; i < 5; ++i) CHECK(io.write(i * 4096ull) == 4096);  // writes unaffected
  auto report = stop_hist(*hist);
  CHECK(failed == 5);
  const json* r = entry(report, disk.loop_name(), "read");
  REQUIRE(r);
  INFO(r->dump());
  // The loop driver retries nothing: each failed read is one failed request.
  CHECK((*r)["errors"]["ioerr"].get<int>() >= 5);
  const json* w = entry(report, disk.loop_name(), "write");
  REQUIRE(w);
  CHECK((*w)["errors"].empty());
}

TEST_CASE("an unwatched device under load does not appear") {
  sanwatch::test::require_privileged("hist device filter test");
  FaultDisk watched_disk, other;
  auto hist = start_hist({"-d", watched_disk.loop_device()});
  DirectIo io(other.loop_device());
  for (int i = 0; i < 200; ++i) io.read((i % 64) * 4096ull);
  auto report = stop_hist(*hist);
  for (const auto& h : report["histograms"]) {
    CHECK(h["device"] == watched_disk.loop_name());
    CHECK(h["count"] == 0);
  }
}

TEST_CASE("hist rejects an unknown device with the list of watchable ones") {
  auto r = sanwatch::test::run_command({SANWATCH_BIN, "hist", "-d", "no-such-disk"}, 10s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no-such-disk") != std::string::npos);
  CHECK(r.err.find("watchable devices:") != std::string::npos);
}

TEST_CASE("the raw_tp fallback programs load and count like tp_btf") {
  sanwatch::test::require_privileged("hist raw_tp fallback test");
  FaultDisk disk;
  disk.set_read_delay(5ms);
  auto hist = start_hist({"-d", disk.loop_device(), "-o", "read", "--force-raw-tp"});
  REQUIRE(hist->captured(Stream::kStderr).find("(raw_tp)") != std::string::npos);
  DirectIo io(disk.loop_device());
  for (int i = 0; i < 20; ++i) io.read(i * 4096ull);
  auto report = stop_hist(*hist);
  const json* r = entry(report, disk.loop_name(), "read");
  REQUIRE(r);
  CHECK((*r)["count"] == 20);
  CHECK((*r)["p50_s"].get<double>() >= 0.005 * 0.875);
}

TEST_CASE("without privileges hist fails with one line naming what is missing") {
  sanwatch::test::require_privileged("hist unprivileged test (needs root to drop privileges)");
  FaultDisk disk;
  auto r = sanwatch::test::run_command(
      {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
       "--bounding-set=-all", SANWATCH_BIN, "hist", "-d", disk.loop_device(), "-c", "1", "-i", "1"},
      10s);
  CHECK(r.exit_code == 1);
  INFO(r.err);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find("permission denied (run as root, or grant CAP_BPF") != std::string::npos);
  CHECK(r.err.find("libbpf:") == std::string::npos);
}
