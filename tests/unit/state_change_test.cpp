// SPDX-License-Identifier: Apache-2.0
// The stderr JSON line of a state change is a contract (scripts, journald
// queries and the lab read it): these goldens are lines the agent printed
// before the typed StateChange existed, and must stay byte-for-byte.
#include "detect/state_change.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "detect/event_log.h"

using namespace sanwatch;

namespace {

std::string line(const StateChange& c) { return state_json(c).dump(); }

Transition stalled(double age) {
  Transition t{Health::kOk,
               Health::kStalled,
               0,
               "oldest I/O outstanding for 2.44s (stall threshold 1s)",
               {}};
  t.evidence.inflight_oldest_s = age;
  return t;
}

}  // namespace

TEST_CASE("state line: a path, with its map, SCSI address and array") {
  StateChange c;
  c.ts = "2026-12-04T20:45:00.152220Z";
  c.mono_ns = 7269941783;
  c.transition = stalled(2.43790694);
  c.target.label = "sda";
  c.target.type = "path";
  c.target.device = "8:0";
  c.target.kernel_name = "sda";
  c.target.wwid = "naa.33333330000007d0";
  c.target.map = "mpatha";
  c.target.hctl = "0:0:0:0";
  c.target.array = "Linux scsi_debug";
  CHECK(
      line(c) ==
      R"j({"ts":"2026-12-04T20:45:00.152220Z","mono_ns":7269941783,"event":"state","target":"sda",)j"
      R"j("target_type":"path","from":"ok","to":"stalled","reason":"oldest I/O outstanding for 2.44s )j"
      R"j((stall threshold 1s)","ios":0,"slow_ios":0,"max_latency_s":0.0,"inflight_oldest_s":2.43790694,)j"
      R"j("errors":0,"canary_latency_s":0.0,"canary_overdue_s":0.0,"canary_errors":0,"device":"8:0",)j"
      R"j("kernel_name":"sda","wwid":"naa.33333330000007d0","map":"mpatha","hctl":"0:0:0:0",)j"
      R"j("array":"Linux scsi_debug"})j");
}

TEST_CASE("state line: a path's SCSI counter deltas and ALUA state are added after the rest") {
  StateChange c;
  c.ts = "2026-12-05T12:54:22.881872Z";
  c.mono_ns = 31414730080;
  c.transition = {Health::kOk, Health::kFailed, 0, "SCSI device state is transport-offline", {}};
  c.transition.evidence.scsi_known = true;
  c.transition.evidence.scsi_iodone = 443;
  c.transition.evidence.scsi_ioerr = 2;
  c.transition.evidence.scsi_iotmo = 0;
  c.target.label = "sdb";
  c.target.type = "path";
  c.target.kernel_name = "sdb";
  c.target.map = "mpatha";
  c.target.target_port = "iqn.2024-12.io.sanwatch.lab:array,127.0.0.1:3260";
  c.target.transport = "iscsi";
  c.target.alua_state = "active/optimized";
  CHECK(
      line(c) ==
      R"j({"ts":"2026-12-05T12:54:22.881872Z","mono_ns":31414730080,"event":"state","target":"sdb",)j"
      R"j("target_type":"path","from":"ok","to":"failed","reason":"SCSI device state is transport-offline",)j"
      R"j("ios":0,"slow_ios":0,"max_latency_s":0.0,"inflight_oldest_s":0.0,"errors":0,)j"
      R"j("canary_latency_s":0.0,"canary_overdue_s":0.0,"canary_errors":0,"scsi_iodone":443,)j"
      R"j("scsi_ioerr":2,"scsi_iotmo":0,"kernel_name":"sdb","map":"mpatha",)j"
      R"j("target_port":"iqn.2024-12.io.sanwatch.lab:array,127.0.0.1:3260","transport":"iscsi",)j"
      R"j("alua_state":"active/optimized"})j");
  // A map with a path out for ALUA standby says how many.
  StateChange m;
  m.transition = {Health::kDegraded, Health::kOk, 0, "no longer degraded for 1s", {}};
  m.transition.evidence.valid_paths = 1;
  m.transition.evidence.total_paths = 2;
  m.transition.evidence.standby_paths = 1;
  m.target.type = "map";
  const auto j = state_json(m);
  CHECK(j["standby_paths"] == 1);
  CHECK_FALSE(j.contains("scsi_iodone"));
}

TEST_CASE("state line: a path's LUN serial comes after its array, only when known") {
  StateChange c;
  c.ts = "2026-12-04T20:45:00.152220Z";
  c.mono_ns = 7269941783;
  c.transition = stalled(2.43790694);
  c.target.label = "sde";
  c.target.type = "path";
  c.target.device = "8:64";
  c.target.kernel_name = "sde";
  c.target.wwid = "naa.600a09803830416b372b4d686f355671";
  c.target.map = "oradata";
  c.target.hctl = "3:0:2:0";
  c.target.array = "NETAPP LUN C-Mode";
  c.target.serial = "80Ak7+Mho5Vq";
  c.target.target_port = "0x200100a0985b3c7d";
  c.target.transport = "fc";
  CHECK(
      line(c) ==
      R"j({"ts":"2026-12-04T20:45:00.152220Z","mono_ns":7269941783,"event":"state","target":"sde",)j"
      R"j("target_type":"path","from":"ok","to":"stalled","reason":"oldest I/O outstanding for 2.44s )j"
      R"j((stall threshold 1s)","ios":0,"slow_ios":0,"max_latency_s":0.0,"inflight_oldest_s":2.43790694,)j"
      R"j("errors":0,"canary_latency_s":0.0,"canary_overdue_s":0.0,"canary_errors":0,"device":"8:64",)j"
      R"j("kernel_name":"sde","wwid":"naa.600a09803830416b372b4d686f355671","map":"oradata",)j"
      R"j("hctl":"3:0:2:0","array":"NETAPP LUN C-Mode","serial":"80Ak7+Mho5Vq",)j"
      R"j("target_port":"0x200100a0985b3c7d","transport":"fc"})j");
}

TEST_CASE("state line: a map with its path counts; a device; a port") {
  StateChange m;
  m.ts = "2026-12-04T20:45:03.878078Z";
  m.mono_ns = 10995748233;
  m.transition = {Health::kDown,
                  Health::kStalled,
                  0,
                  "oldest I/O outstanding for 2.89s (stall threshold 1s); 0 of 2 paths valid",
                  {}};
  m.transition.evidence.inflight_oldest_s = 2.89131716;
  m.transition.evidence.valid_paths = 0;
  m.transition.evidence.total_paths = 2;
  m.target = {"mpatha", "map", "254:0", "dm-0", "mpatha", "333333330000007d0", "", "",
              "",       "",    "",      "",     {}};
  CHECK(
      line(m) ==
      R"j({"ts":"2026-12-04T20:45:03.878078Z","mono_ns":10995748233,"event":"state",)j"
      R"j("target":"mpatha","target_type":"map","from":"down","to":"stalled","reason":"oldest I/O )j"
      R"j(outstanding for 2.89s (stall threshold 1s); 0 of 2 paths valid","ios":0,"slow_ios":0,)j"
      R"j("max_latency_s":0.0,"inflight_oldest_s":2.89131716,"errors":0,"canary_latency_s":0.0,)j"
      R"j("canary_overdue_s":0.0,"canary_errors":0,"valid_paths":0,"total_paths":2,)j"
      R"j("device":"254:0","kernel_name":"dm-0","dm_name":"mpatha","wwid":"333333330000007d0"})j");

  StateChange d;
  d.ts = "2026-12-04T20:34:18.833535Z";
  d.mono_ns = 946546409894;
  d.transition = {Health::kOk, Health::kFailed, 0, "3 I/O error(s) (ioerr) within 10s", {}};
  d.transition.evidence.errors = 3;
  d.transition.evidence.last_error = "ioerr";
  d.target = {"loop0", "device", "7:0", "loop0", "", "", "", "", "", "", "", "", {}};
  CHECK(line(d) ==
        R"j({"ts":"2026-12-04T20:34:18.833535Z","mono_ns":946546409894,"event":"state",)j"
        R"j("target":"loop0","target_type":"device","from":"ok","to":"failed","reason":"3 I/O )j"
        R"j(error(s) (ioerr) within 10s","ios":0,"slow_ios":0,"max_latency_s":0.0,)j"
        R"j("inflight_oldest_s":0.0,"errors":3,"canary_latency_s":0.0,"canary_overdue_s":0.0,)j"
        R"j("canary_errors":0,"last_error":"ioerr","device":"7:0"})j");

  StateChange p;
  p.ts = "t";
  p.mono_ns = 1;
  p.transition = {
      Health::kOk, Health::kDegraded, 0, "every path through the port is unhealthy", {}};
  p.target.label = "0x21000024ff000001";
  p.target.type = "port";
  p.target.array = "";
  p.target.target_port = "0x21000024ff000001";
  p.target.paths = {"sdb", "sdd"};
  CHECK(
      line(p) ==
      R"j({"ts":"t","mono_ns":1,"event":"state","target":"0x21000024ff000001","target_type":"port",)j"
      R"j("from":"ok","to":"degraded","reason":"every path through the port is unhealthy","ios":0,)j"
      R"j("slow_ios":0,"max_latency_s":0.0,"inflight_oldest_s":0.0,"errors":0,"canary_latency_s":0.0,)j"
      R"j("canary_overdue_s":0.0,"canary_errors":0,"array":"","target_port":"0x21000024ff000001",)j"
      R"j("paths":["sdb","sdd"]})j");
}

TEST_CASE("state line: the event log writes exactly the change it hands the sinks") {
  std::FILE* f = std::tmpfile();
  EventLog log(f);
  StateChange seen;
  log.subscribe([&](const StateChange& c) { seen = c; });
  TargetIdentity id{"sdb", "path", "8:16", "sdb", "", "", "mpatha", "", "", "", "", "", {}};
  const StateChange c = log.state(id, stalled(1.5));
  CHECK(seen.target.label == "sdb");
  CHECK(seen.mono_ns == c.mono_ns);
  std::rewind(f);
  char buf[4096] = {};
  REQUIRE(std::fgets(buf, sizeof buf, f));
  CHECK(std::string(buf) == line(c) + "\n");
  std::fclose(f);
}
