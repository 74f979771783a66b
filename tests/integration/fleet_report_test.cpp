// SPDX-License-Identifier: Apache-2.0
// `sanwatch report --prometheus` against a real Prometheus (1 s scrapes)
// scraping two real agents, each on its own FaultDisk loop device, both
// declared the same array by [[override]] (array_vendor/array_product/
// array_id), each with its own ledger. A stall of ~3.5 s on one: the
// array's down time from Prometheus agrees with that agent's ledger.
//
// Tolerance: one scrape interval (1 s). The down counter equals the
// ledger's down time exactly at every scrape (the agent keeps both by the
// same rule), and the report takes deltas of the raw counter at grid
// points, so the only difference is where the period's edges cut: each end
// sees the counter as of the last scrape before it, at most one scrape
// interval earlier. The step does not add to it: a total is a telescoping
// sum of deltas, whatever the step (checked with 1 s and 60 s steps); the
// per-array max per step matters only when two hosts are down in one step,
// not here.
#include <fmt/format.h>
#include <time.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "fault_disk.h"
#include "privileged.h"
#include "process.h"
#include "prometheus_server.h"
#include "test_util.h"

using namespace std::chrono_literals;
using nlohmann::json;
using sanwatch::test::AgentProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::eventually;
using sanwatch::test::FaultDisk;
using sanwatch::test::PrometheusServer;
using sanwatch::test::run_command;

namespace {

constexpr const char* kArrayId = "iqn.2026-12.lab:array1";

// Short thresholds; the loop device declared an array's LUN.
std::string agent_config(const FaultDisk& d) {
  return fmt::format(
      "[devices]\ninclude = [\"{0}\"]\nrescan = \"200ms\"\n"
      "[thresholds]\nslow_io = \"200ms\"\nstall = \"500ms\"\nrecovery = \"1s\"\n"
      "slow_window = \"2s\"\n"
      "[canary]\ntargets = \"all\"\nperiod = \"200ms\"\ndeadline = \"400ms\"\n"
      "[metrics]\nlisten = \"127.0.0.1:0\"\nrefresh = \"200ms\"\n"
      "[[override]]\nmatch = [\"{0}\"]\narray_vendor = \"LAB\"\narray_product = \"FAULT\"\n"
      "array_id = \"{1}\"\n",
      d.loop_name(), kArrayId);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 3339 UTC with ms, as --from/--to take it.
std::string utc(std::int64_t ms) {
  const std::time_t s = ms / 1000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

sanwatch::test::CommandResult report(std::vector<std::string> args) {
  args.insert(args.begin(), {SANWATCH_BIN, "report"});
  return run_command(args, 60s);
}

json report_json(const std::vector<std::string>& args) {
  auto r = report(args);
  INFO(sanwatch::test::format_command(args) << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

const json& one(const json& list, const std::string& key, const std::string& value) {
  for (const json& x : list)
    if (x.value(key, "") == value) return x;
  FAIL("no " << key << " = " << value << " in " << list.dump());
  throw std::logic_error("unreachable");
}

// Stalls the disk with a reader hung on it for `hold`, then releases it.
void stall_for(FaultDisk& disk, AgentProcess& agent, std::chrono::milliseconds hold) {
  disk.stall();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread reader([dev = disk.loop_device()] { DirectIo(dev).read(0); });
  const bool seen = agent.wait_state(disk.loop_name(), "stalled", 10s).has_value();
  std::this_thread::sleep_until(t0 + hold);
  disk.release();
  reader.join();
  REQUIRE(seen);
}

}  // namespace

TEST_CASE("fleet report: Prometheus and the stalled agent's ledger agree on the array's downtime") {
  sanwatch::test::require_privileged("fleet report test");
  const auto started = std::chrono::steady_clock::now();
  FaultDisk d1, d2;
  AgentProcess a1(agent_config(d1)), a2(agent_config(d2));
  PrometheusServer prom({a1.metrics_address(), a2.metrics_address()});
  INFO("prometheus log:\n" << prom.log());
  REQUIRE(eventually(
      [&] {
        return prom.query("sanwatch_target_down_seconds_total{job=\"sanwatch\"}").size() == 2 &&
               prom.query("sanwatch_device_info{array_id!=\"\"}").size() == 2;
      },
      20s));
  const std::int64_t from = now_ms();
  std::this_thread::sleep_for(2s);
  stall_for(d1, a1, 3500ms);
  REQUIRE(a1.wait_state(d1.loop_name(), "ok", 10s));
  std::this_thread::sleep_for(3s);  // scrapes after the counters settled
  const std::int64_t to = now_ms();
  const std::vector<std::string> period = {"--from", utc(from), "--to", utc(to)};

  // The fleet report: both hosts, one array.
  std::vector<std::string> args = {"--prometheus", prom.url(), "--selector", "job=\"sanwatch\"",
                                   "--step",       "1s",       "--format",   "json"};
  args.insert(args.end(), period.begin(), period.end());
  const json fleet = report_json(args);
  INFO(fleet.dump(1));
  CHECK(fleet["schema"] == "sanwatch.report/v1");
  CHECK(fleet["source"]["kind"] == "prometheus");
  CHECK(fleet["source"]["note"] == "cross-check of the per-host ledgers");
  CHECK(fleet["hosts"].size() == 2);
  REQUIRE(fleet["arrays"].size() == 1);
  const json& array = fleet["arrays"][0];
  CHECK(array["array"] == "LAB FAULT");
  CHECK(array["array_id"] == kArrayId);
  CHECK(array["hosts"].size() == 2);
  CHECK(array["measured_ms"].get<std::int64_t>() >= to - from - 2000);
  const json& t1 = one(fleet["targets"], "host", a1.metrics_address());
  const json& t2 = one(fleet["targets"], "host", a2.metrics_address());
  CHECK(t2["down_ms"] == 0);
  bool stalled_segment = false;
  for (const json& s : t1["timeline"]) stalled_segment |= s["state"] == "stalled";
  CHECK(stalled_segment);
  REQUIRE(fleet["incidents"].size() == 1);
  const json& inc = fleet["incidents"][0];
  CHECK(inc["basis"] == "prometheus");
  CHECK(inc["host"] == a1.metrics_address());
  CHECK(inc["worst_state"] == "stalled");
  CHECK(inc["array_wide"] == false);

  // A 60 s step (the rules' resolution): the same totals.
  args[5] = "60s";
  const json coarse = report_json(args);
  CHECK(std::abs(coarse["arrays"][0]["down_ms"].get<std::int64_t>() -
                 array["down_ms"].get<std::int64_t>()) <= 1);

  // The stalled agent's own ledger, per array, for the same period (the
  // agent stopped: its run covers the whole period).
  REQUIRE(a1.stop() == 0);
  std::vector<std::string> ledger_args = {"--ledger", a1.ledger_path(), "--by",
                                          "array",    "--format",       "json"};
  ledger_args.insert(ledger_args.end(), period.begin(), period.end());
  const json ledger = report_json(ledger_args);
  const json& lrow = one(ledger["targets"], "target", fmt::format("LAB FAULT {}", kArrayId));
  CHECK(lrow["array_id"] == kArrayId);
  const std::int64_t ledger_down = lrow["down_ms"], prom_down = array["down_ms"];
  WARN(fmt::format("array down: Prometheus {} ms, ledger {} ms (difference {} ms); target {} ms",
                   prom_down, ledger_down, prom_down - ledger_down, t1["down_ms"].get<int>()));
  CHECK(ledger_down >= 3000);
  CHECK(std::abs(prom_down - ledger_down) <= 1000);  // one scrape interval
  CHECK(t1["down_ms"] == prom_down);
  const std::int64_t ledger_measured = lrow["measured_ms"], prom_measured = t1["measured_ms"];
  WARN(fmt::format("measured: Prometheus {} ms, ledger {} ms", prom_measured, ledger_measured));
  CHECK(std::abs(prom_measured - ledger_measured) <= 1000);

  // Refusals and credentials: nothing from an unreachable server (exit 3),
  // a bad selector is a usage error (2), user info is never printed.
  auto down = report({"--prometheus", "http://127.0.0.1:1", "--last", "1h"});
  CHECK(down.exit_code == 3);
  CHECK_THAT(down.err, Catch::Contains("Prometheus:") && Catch::Contains("no report made"));
  CHECK(report({"--prometheus", prom.url(), "--selector", "job=sanwatch"}).exit_code == 2);
  auto creds = report({"--prometheus", "http://fleet:s3cret-pw@" + prom.url().substr(7), "--format",
                       "json", "--last", "1m"});
  CHECK(creds.exit_code == 0);
  CHECK(creds.out.find("s3cret") == std::string::npos);
  CHECK(creds.err.find("s3cret") == std::string::npos);
  CHECK(json::parse(creds.out)["source"]["url"] == prom.url());
  creds = report(
      {"--prometheus", prom.url() + "/nowhere", "--basic-auth", "u:0ther-pw", "--last", "1m"});
  CHECK(creds.exit_code == 3);  // 404
  CHECK_THAT(creds.err, Catch::Contains("HTTP 404"));
  CHECK(creds.err.find("0ther") == std::string::npos);

  CHECK(a2.stop() == 0);
  WARN("fleet report test took "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
       << " s");
}
