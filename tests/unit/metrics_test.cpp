// SPDX-License-Identifier: Apache-2.0
#include "exporters/metrics.h"

#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "exporters/exposition.h"

using namespace sanwatch;

namespace {

// What /metrics serves.
std::string render(const MetricsSnapshot& s, std::uint64_t now) {
  std::string out;
  write_text_exposition(render_families(s, now), out);
  return out;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

// A multipath map mpatha (wwid 3600, 1 of 2 paths valid) and its path sdb.
TargetSnapshot mpath_map() {
  TargetSnapshot map;
  map.name = "dm-0";
  map.label = "mpatha";
  map.target_type = "map";
  map.wwid = "3600";
  map.valid_paths = 1;
  map.total_paths = 2;
  return map;
}

TargetSnapshot mpath_path() {
  TargetSnapshot path;
  path.name = "sdb";
  path.label = "sdb";
  path.target_type = "path";
  path.map = "mpatha";
  return path;
}

MetricsSnapshot one_device() {
  MetricsSnapshot s;
  s.version = "1.2.3";
  s.kernel = "6.1.0";
  TargetSnapshot t;
  t.name = "dm-0";
  t.label = "dm-0";
  t.target_type = "device";
  t.dm_name = "mpatha";
  t.wwid = "3600";
  t.state = "stalled";
  t.states = {"ok", "slow", "stalled"};
  DeviceStats d;
  OpStats& r = d.op(Op::kRead);
  r.count = 10;
  r.bytes = 40960;
  r.total.record(80'000, 4);       // 80 us: le=0.0001
  r.total.record(3'000'000, 5);    // 3 ms: le=0.005
  r.total.record(200'000'000, 1);  // 200 ms: le=0.25
  r.total_ns_sum = 4 * 80'000 + 5 * 3'000'000 + 200'000'000;
  r.errors[10] = 2;
  r.requeues = 3;
  t.io = d;
  t.oldest_start_ns = 1'000'000'000;
  CanaryStats c;
  c.reads = 7;
  c.timeouts = 1;
  t.canary = c;
  t.canary_since_ns = 2'000'000'000;
  t.canary_deadline_ns = 500'000'000;
  s.targets.push_back(t);
  return s;
}

}  // namespace

TEST_CASE("classic buckets are cumulative and match the recorded latencies") {
  const std::string m = render(one_device(), 3'500'000'000);
  CHECK(has(m, R"(sanwatch_io_latency_seconds_bucket{device="dm-0",op="read",le="0.0001"} 4)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_bucket{device="dm-0",op="read",le="0.0025"} 4)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_bucket{device="dm-0",op="read",le="0.005"} 9)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_bucket{device="dm-0",op="read",le="0.1"} 9)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_bucket{device="dm-0",op="read",le="0.25"} 10)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_bucket{device="dm-0",op="read",le="+Inf"} 10)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_count{device="dm-0",op="read"} 10)"));
  CHECK(has(m, R"(sanwatch_io_latency_seconds_sum{device="dm-0",op="read"} 0.21532)"));
}

TEST_CASE("counters, states, identity, ages and canaries render with their labels") {
  const std::string m = render(one_device(), 3'500'000'000);
  CHECK(has(m, R"(sanwatch_build_info{version="1.2.3",kernel="6.1.0"} 1)"));
  CHECK(has(
      m,
      R"(sanwatch_device_info{device="dm-0",target="dm-0",target_type="device",dm_name="mpatha",wwid="3600"} 1)"));
  CHECK(has(m, R"(sanwatch_state{target="dm-0",target_type="device",state="stalled"} 1)"));
  CHECK(has(m, R"(sanwatch_state{target="dm-0",target_type="device",state="ok"} 0)"));
  CHECK(has(m, R"(sanwatch_io_completed_total{device="dm-0",op="read"} 10)"));
  CHECK(has(m, R"(sanwatch_io_errors_total{device="dm-0",op="read",status="ioerr"} 2)"));
  CHECK(has(m, R"(sanwatch_io_requeues_total{device="dm-0"} 3)"));
  CHECK(has(m, R"(sanwatch_inflight_oldest_seconds{device="dm-0"} 2.5)"));
  CHECK(has(m, R"(sanwatch_canary_timeouts_total{target="dm-0"} 1)"));
  CHECK(has(m, R"(sanwatch_canary_overdue_seconds{target="dm-0"} 1.5)"));
  // Operations that never saw I/O get no series.
  CHECK(m.find(R"(op="write")") == std::string::npos);
}

TEST_CASE("path histograms are off unless configured") {
  auto s = one_device();
  s.targets[0].histograms = false;
  const std::string m = render(s, 3'500'000'000);
  CHECK(m.find("sanwatch_io_latency_seconds_bucket") == std::string::npos);
  CHECK(m.find("sanwatch_canary_latency_seconds_bucket") == std::string::npos);
  CHECK(has(m, R"(sanwatch_io_completed_total{device="dm-0",op="read"} 10)"));
}

TEST_CASE("latency SLO counters: one series per configured threshold, exact labels") {
  auto s = one_device();
  // Without thresholds there is no such family at all.
  CHECK(render(s, 1).find("sanwatch_io_latency_over_threshold_total") == std::string::npos);
  DeviceStats& d = *s.targets[0].io;
  d.slo_ns = {250'000, 10'000'000, 1'500'000'000, 2'000'000'000};
  d.op(Op::kRead).slo_over = {9, 6, 1, 0};
  s.targets[0].histograms = false;  // counters, not histograms: exported for every target
  const std::string m = render(s, 1);
  const std::string name = "sanwatch_io_latency_over_threshold_total";
  CHECK(has(m, "# TYPE " + name + " counter"));
  CHECK(has(m, name + R"({device="dm-0",op="read",threshold_seconds="0.00025"} 9)"));
  CHECK(has(m, name + R"({device="dm-0",op="read",threshold_seconds="0.01"} 6)"));
  CHECK(has(m, name + R"({device="dm-0",op="read",threshold_seconds="1.5"} 1)"));
  CHECK(has(m, name + R"({device="dm-0",op="read",threshold_seconds="2"} 0)"));
  // Operations that never saw I/O still get no series.
  CHECK(m.find(R"(op="write")") == std::string::npos);
  // Unused entries (0) have no series.
  d.slo_ns = {10'000'000, 0, 0, 0};
  const std::string one = render(s, 1);
  CHECK(has(one, name + R"({device="dm-0",op="read",threshold_seconds="0.01"} 9)"));
  CHECK(one.find(R"(threshold_seconds="0.00025")") == std::string::npos);
}

TEST_CASE("multipath maps and paths export path_up, transitions, valid paths and identity") {
  MetricsSnapshot s;
  TargetSnapshot map = mpath_map();
  map.state = "degraded";
  map.states = {"ok", "degraded"};
  TargetSnapshot path = mpath_path();
  path.wwid = "3600";
  path.path_up = false;
  path.transitions = 3;
  path.array = "3PARdata VV";
  path.target_port = "0x20210002ac01c4f1";
  path.hctl = "4:0:1:1";
  path.transport = "fc";
  s.targets = {map, path};
  const std::string m = render(s, 1);
  CHECK(has(m, R"(sanwatch_state{target="mpatha",target_type="map",state="degraded"} 1)"));
  CHECK(has(m, R"(sanwatch_map_valid_paths{map="mpatha",wwid="3600"} 1)"));
  CHECK(has(m, R"(sanwatch_map_paths{map="mpatha",wwid="3600"} 2)"));
  CHECK(has(m, R"(sanwatch_path_up{map="mpatha",path="sdb",wwid="3600"} 0)"));
  CHECK(has(m, R"(sanwatch_path_transitions_total{map="mpatha",path="sdb"} 3)"));
  CHECK(has(
      m,
      R"(sanwatch_path_info{map="mpatha",path="sdb",wwid="3600",array="3PARdata VV",target_port="0x20210002ac01c4f1",hctl="4:0:1:1",transport="fc",array_vendor="",array_product="",array_id=""} 1)"));
  // No counters read (NVMe, or not yet): no series rather than zeros.
  CHECK_FALSE(has(m, "sanwatch_scsi_iodone_total"));
  CHECK_FALSE(has(m, "sanwatch_map_active_group"));
}

TEST_CASE("SCSI command counters per path and the map's active group") {
  MetricsSnapshot s;
  TargetSnapshot map = mpath_map();
  map.active_group = 2;
  TargetSnapshot path = mpath_path();
  path.scsi_counters = true;
  path.scsi_iodone = 0x1a2;
  path.scsi_ioerr = 3;
  path.scsi_iotmo = 1;
  s.targets = {map, path};
  const std::string m = render(s, 1);
  CHECK(has(m, R"(sanwatch_scsi_iodone_total{map="mpatha",path="sdb"} 418)"));
  CHECK(has(m, R"(sanwatch_scsi_ioerr_total{map="mpatha",path="sdb"} 3)"));
  CHECK(has(m, R"(sanwatch_scsi_iotmo_total{map="mpatha",path="sdb"} 1)"));
  CHECK(has(m, "# TYPE sanwatch_scsi_iodone_total counter"));
  CHECK(has(m, R"(sanwatch_map_active_group{map="mpatha",wwid="3600"} 2)"));
}

TEST_CASE("availability counters and the array identity the fleet rules join on") {
  auto s = one_device();
  TargetSnapshot& t = s.targets[0];
  t.state_seconds = {3600.5, 2, 0.25};
  t.down_seconds = 1.75;
  t.array = "3PARdata VV";
  t.array_vendor = "3PARdata";
  t.array_product = "VV";
  t.array_id = "0x2ff70002ac01c4f1";
  const std::string m = render(s, 1);
  CHECK(has(
      m,
      R"(sanwatch_target_state_seconds_total{target="dm-0",target_type="device",state="ok"} 3600.5)"));
  CHECK(has(
      m,
      R"(sanwatch_target_state_seconds_total{target="dm-0",target_type="device",state="stalled"} 0.25)"));
  CHECK(has(m, R"(sanwatch_target_down_seconds_total{target="dm-0",target_type="device"} 1.75)"));
  CHECK(has(
      m,
      R"(sanwatch_device_info{device="dm-0",target="dm-0",target_type="device",dm_name="mpatha",wwid="3600",array="3PARdata VV",array_vendor="3PARdata",array_product="VV",array_id="0x2ff70002ac01c4f1"} 1)"));
  CHECK(m.find("# TYPE sanwatch_target_down_seconds_total counter") != std::string::npos);
}

TEST_CASE("native NVMe paths export their identity and ANA state") {
  MetricsSnapshot s;
  TargetSnapshot path;
  path.name = path.label = "nvme0c1n1";
  path.target_type = "path";
  path.map = "nvme0n1";
  path.wwid = "uuid.5a1c";
  path.transport = "nvme";
  path.target_port = "traddr=127.0.0.1,trsvcid=4421";
  path.array_id = "nqn.2024-12.io.sanwatch.lab:ana";
  path.controller = "nvme1";
  path.nvme_transport = "tcp";
  path.ana_group = "1";
  path.alua_state = "inaccessible";
  s.targets = {path};
  std::string m = render(s, 1);
  CHECK(has(
      m,
      R"(sanwatch_nvme_path_info{map="nvme0n1",path="nvme0c1n1",subsystem_nqn="nqn.2024-12.io.sanwatch.lab:ana",controller="nvme1",transport="tcp",address="traddr=127.0.0.1,trsvcid=4421",ana_group="1"} 1)"));
  CHECK(has(
      m, R"(sanwatch_nvme_path_ana_state{map="nvme0n1",path="nvme0c1n1",state="inaccessible"} 1)"));
  CHECK(has(m,
            R"(sanwatch_nvme_path_ana_state{map="nvme0n1",path="nvme0c1n1",state="optimized"} 0)"));
  CHECK(m.find(R"(state="bogus")") == std::string::npos);
  // A state outside the spec's five gets its own series, never dropped.
  s.targets[0].alua_state = "bogus";
  m = render(s, 1);
  CHECK(has(m, R"(sanwatch_nvme_path_ana_state{map="nvme0n1",path="nvme0c1n1",state="bogus"} 1)"));
  CHECK(has(
      m, R"(sanwatch_nvme_path_ana_state{map="nvme0n1",path="nvme0c1n1",state="inaccessible"} 0)"));
  // SCSI paths have none of these.
  s.targets[0].controller.clear();
  CHECK(render(s, 1).find("sanwatch_nvme_path") == std::string::npos);
}

// The README's cardinality figures come from here: one multipath map with
// reads and writes, a canary, and 8 paths without histograms.
TEST_CASE("series per map and per path, as documented") {
  auto count = [](const MetricsSnapshot& s) {
    std::istringstream in(render(s, 1));
    int n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty() && line[0] != '#';
    return n;
  };
  MetricsSnapshot base;
  const int fixed = count(base);
  TargetSnapshot map;
  map.name = "dm-0";
  map.label = "mpatha";
  map.target_type = "map";
  map.wwid = "3600";
  map.valid_paths = map.total_paths = 8;
  map.states = {"ok", "slow", "degraded", "down", "stalled", "failed", "gone"};
  map.state_since = 1;
  DeviceStats io;
  io.op(Op::kRead).count = io.op(Op::kWrite).count = 1;
  map.io = io;
  map.oldest_start_ns = 0;
  map.canary = CanaryStats{};
  TargetSnapshot path = map;
  path.name = path.label = "sdb";
  path.target_type = "path";
  path.map = "mpatha";
  path.histograms = false;
  path.states = {"ok", "slow", "stalled", "failed", "flapping", "gone"};
  map.state_seconds.assign(map.states.size(), 1.0);  // as the watchdog fills them
  path.state_seconds.assign(path.states.size(), 1.0);
  MetricsSnapshot one_map = base;
  one_map.targets = {map};
  MetricsSnapshot one_path = base;
  one_path.targets = {path};
  const int per_map = count(one_map) - fixed;
  const int per_path = count(one_path) - fixed;
  CHECK(per_map == 134);
  CHECK(per_path == 28);
  WARN("64 maps x 8 paths: " << 64 * per_map + 512 * per_path + fixed << " series");
}

namespace {

// Sample lines by series ("name{labels}") with their values, and the comment
// lines as a set: the text format does not order lines within a family.
struct Parsed {
  std::map<std::string, double> samples;
  std::set<std::string> comments;
};

Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      p.comments.insert(line);
      continue;
    }
    const auto sp = line.rfind(' ');
    REQUIRE(sp != std::string::npos);
    const std::string v = line.substr(sp + 1);
    const double d = v == "+Inf"   ? HUGE_VAL
                     : v == "-Inf" ? -HUGE_VAL
                                   : std::strtod(v.c_str(), nullptr);
    INFO(line);
    CHECK(p.samples.emplace(line.substr(0, sp), d).second);  // no series twice
  }
  return p;
}

MetricsSnapshot rich_snapshot() {
  MetricsSnapshot s = one_device();
  TargetSnapshot w = s.targets[0];
  w.name = w.label = "sdc";
  w.dm_name.clear();
  w.state = "ok";
  OpStats& wr = w.io->op(Op::kWrite);
  wr.count = 123456789;
  wr.total.record(12'345'678, 3);
  wr.total_ns_sum = 3 * 12'345'678ull;
  wr.device.record(1'234'567, 3);
  wr.device_ns_sum = 3 * 1'234'567ull;
  w.state_since = 1764800000.123456;
  w.io->slo_ns = {10'000'000, 100'000'000, 0, 0};
  wr.slo_over = {3, 0, 0, 0};
  s.targets.push_back(w);
  s.device_histograms = true;
  return s;
}

}  // namespace

// prometheus-cpp's TextSerializer is the reference for the text format: the
// served exposition holds the same series with the same values (digits may
// differ: fmt writes the shortest exact form, the library 16 digits).
TEST_CASE("the served exposition matches prometheus-cpp's serializer series for series") {
  ServerStats server{0.0123, 7, {3, 2, 1, {{200, 10}, {405, 1}}}};
  const auto families = render_families(rich_snapshot(), 3'500'000'000, server);
  std::ostringstream ref;
  prometheus::TextSerializer().Serialize(ref, families);
  std::string ours;
  write_text_exposition(families, ours);
  const Parsed a = parse(ref.str());
  const Parsed b = parse(ours);
  CHECK(a.comments == b.comments);
  REQUIRE(a.samples.size() == b.samples.size());
  CHECK(a.samples.size() > 100);
  for (const auto& [series, v] : a.samples) {
    INFO(series);
    const auto it = b.samples.find(series);
    REQUIRE(it != b.samples.end());
    CHECK(it->second == Approx(v).epsilon(1e-15));
  }
}

TEST_CASE("baseline: degraded for every tracked LUN, ratios and values only with a baseline") {
  MetricsSnapshot s;
  BaselineStatus a{"mpatha", "map", true, true, 0.004, 0.0091, 0.002, 0.002, 2.0, 4.55};
  BaselineStatus b{"sdc", "device"};
  s.baseline = {a, b};
  const std::string m = render(s, 0);
  CHECK(has(m, R"(sanwatch_baseline_degraded{target="mpatha",target_type="map"} 1)"));
  CHECK(has(m, R"(sanwatch_baseline_degraded{target="sdc",target_type="device"} 0)"));
  CHECK(
      has(m, R"(sanwatch_baseline_ratio{target="mpatha",target_type="map",quantile="0.99"} 4.55)"));
  CHECK(has(m, R"(sanwatch_baseline_ratio{target="mpatha",target_type="map",quantile="0.5"} 2)"));
  CHECK(has(
      m,
      R"(sanwatch_baseline_latency_seconds{target="mpatha",target_type="map",quantile="0.99",window="current"} 0.0091)"));
  CHECK(has(
      m,
      R"(sanwatch_baseline_latency_seconds{target="mpatha",target_type="map",quantile="0.99",window="baseline"} 0.002)"));
  CHECK(m.find(R"(sanwatch_baseline_ratio{target="sdc")") == std::string::npos);
}

TEST_CASE("the metrics server's own series: connections, refusals by reason, answers by status") {
  HttpStats http{5, 7, 3, {{200, 40}, {405, 2}, {431, 1}}};
  std::string m;
  write_text_exposition(render_families(MetricsSnapshot{}, 0, {0.012, 9, http}), m);
  CHECK(has(m, "sanwatch_http_connections 5"));
  CHECK(has(m, R"(sanwatch_http_connections_refused_total{reason="max_connections"} 7)"));
  CHECK(has(m, R"(sanwatch_http_connections_refused_total{reason="per_ip"} 3)"));
  CHECK(has(m, R"(sanwatch_http_requests_total{code="200"} 40)"));
  CHECK(has(m, R"(sanwatch_http_requests_total{code="405"} 2)"));
  CHECK(has(m, R"(sanwatch_http_requests_total{code="431"} 1)"));
  CHECK(has(m, "sanwatch_scrape_renders_total 9"));
  CHECK(has(m, "sanwatch_scrape_duration_seconds 0.012"));
  CHECK(has(m, "# TYPE sanwatch_http_requests_total counter"));
  CHECK(has(m, "# TYPE sanwatch_http_connections gauge"));
}
