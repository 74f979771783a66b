// SPDX-License-Identifier: Apache-2.0
#include "cli/paths_report.h"

#include <catch2/catch.hpp>

#include "cli/agent_states.h"

using namespace sanwatch;

namespace {

PathsReport sample() {
  MapRow m;
  m.info.name = "dm-0";
  m.info.dm_name = "mpatha";
  m.info.wwid = "360002ac0000000000000001a0001c4f1";
  m.array = "3PARdata VV";
  m.serial = "1619C4F";
  m.valid_paths = 1;
  m.total_paths = 2;
  m.queue_if_no_path = true;
  m.io.count = 100;
  m.io.total.record(1'000'000, 100);
  for (const char* n : {"sda", "sdb"}) {
    PathRow p;
    p.info.name = n;
    p.info.hctl = n[2] == 'a' ? "3:0:0:1" : "4:0:0:1";
    p.info.scsi_state = n[2] == 'a' ? "running" : "offline";
    p.info.transport = "fc";
    p.info.target_port = "0x20110002ac01c4f1";
    p.info.vendor = "3PARdata";
    p.info.model = "VV";
    p.info.serial = "1619C4F";
    p.dm_state = n[2] == 'a' ? "active" : "failed";
    m.paths.push_back(p);
  }
  for (auto& p : m.paths) p.state = derived_path_state(p);
  m.state = derived_map_state(m);
  return PathsReport{"t", 1.0, "derived", {m}};
}

}  // namespace

TEST_CASE("derived states without the agent follow dm and SCSI") {
  const auto r = sample();
  CHECK(r.maps[0].state == "degraded");
  CHECK(r.maps[0].paths[0].state == "ok");
  CHECK(r.maps[0].paths[1].state == "failed");
  MapRow none = r.maps[0];
  none.valid_paths = 0;
  CHECK(derived_map_state(none) == "down");
}

TEST_CASE("paths JSON carries map, path, dm and SCSI state, port and latency") {
  const auto j = paths_json(sample());
  const auto& m = j["maps"][0];
  CHECK(m["map"] == "mpatha");
  CHECK(m["valid_paths"] == 1);
  CHECK(m["queue_if_no_path"] == true);
  CHECK(m["latency"]["ios"] == 100);
  CHECK(m["latency"]["p50_s"].get<double>() == Approx(0.001).epsilon(0.125));
  CHECK(m["paths"][1]["path"] == "sdb");
  CHECK(m["paths"][1]["lower"] == "");  // a disk itself, not a dm device stacked on one
  CHECK(m["paths"][1]["dm_state"] == "failed");
  CHECK(m["paths"][1]["scsi_state"] == "offline");
  CHECK(m["paths"][1]["array"] == "3PARdata VV");
  CHECK(m["serial"] == "1619C4F");
  CHECK(m["paths"][1]["serial"] == "1619C4F");
}

TEST_CASE("paths JSON and text: ALUA groups and the iSCSI identity of each path") {
  PathsReport r = sample();
  MapRow& m = r.maps[0];
  m.active_group = 2;
  const char* portals[] = {"127.0.0.1:3260", "127.0.0.1:3261"};
  for (int i = 0; i < 2; ++i) {
    PathInfo& p = m.paths[i].info;
    p.transport = "iscsi";
    p.array_id = "iqn.2024-12.io.sanwatch.lab:array";
    p.target_port = p.array_id + "," + portals[i];
    p.alua_state = i ? "active/optimized" : "standby";
    p.alua_group = i + 1;
    p.rel_port = i + 1;
    p.iscsi = {"session" + std::to_string(i + 1), "LOGGED_IN", "up", portals[i],
               std::to_string(i + 1)};
    m.paths[i].dm_group = i + 1;
  }
  const auto j = paths_json(r);
  CHECK(j["maps"][0]["active_group"] == 2);
  const auto& b = j["maps"][0]["paths"][1];
  CHECK(b["alua_state"] == "active/optimized");
  CHECK(b["alua_group"] == 2);
  CHECK(b["dm_group"] == 2);
  CHECK(b["iscsi"]["target_name"] == "iqn.2024-12.io.sanwatch.lab:array");
  CHECK(b["iscsi"]["portal"] == "127.0.0.1:3261");
  CHECK(b["iscsi"]["tpgt"] == "2");
  CHECK(b["iscsi"]["session"] == "session2");
  CHECK(b["iscsi"]["session_state"] == "LOGGED_IN");
  CHECK_FALSE(sample().maps[0].paths[0].info.transport == "iscsi");
  CHECK_FALSE(paths_json(sample())["maps"][0]["paths"][0].contains("iscsi"));
  const std::string t = paths_text(r);
  CHECK(t.find("I/O on group 2") != std::string::npos);
  CHECK(t.find("standby") != std::string::npos);
  CHECK(t.find("alua group 2 port 2  dm group 2  iscsi iqn.2024-12.io.sanwatch.lab:array portal "
               "127.0.0.1:3261 tpgt 2 session2 LOGGED_IN conn up") != std::string::npos);
}

TEST_CASE("paths text looks like multipathd's topology") {
  const std::string t = paths_text(sample());
  CHECK(t.find("mpatha (360002ac0000000000000001a0001c4f1) dm-0 3PARdata VV  serial 1619C4F\n") !=
        std::string::npos);
  CHECK(t.find("state=degraded  paths 1/2 valid  queue_if_no_path") != std::string::npos);
  CHECK(t.find("|- 3:0:0:1 sda") != std::string::npos);
  CHECK(t.find("`- 4:0:0:1 sdb") != std::string::npos);
}

TEST_CASE("agent states are read from its metrics text") {
  const auto s = parse_agent_states(
      "# HELP sanwatch_state x\n"
      "sanwatch_state{target=\"mpatha\",target_type=\"map\",state=\"ok\"} 0\n"
      "sanwatch_state{target=\"mpatha\",target_type=\"map\",state=\"degraded\"} 1\n"
      "sanwatch_state_changed_timestamp_seconds{target=\"mpatha\",target_type=\"map\"} "
      "1795000000.5\n"
      "sanwatch_state{target=\"sdb\",target_type=\"path\",state=\"failed\"} 1\n"
      "garbage{\n");
  REQUIRE(s.count("mpatha"));
  CHECK(s.at("mpatha").state == "degraded");
  CHECK(s.at("mpatha").since == Approx(1795000000.5));
  CHECK(s.at("sdb").state == "failed");
}

TEST_CASE("agent states: label values are unescaped and may hold quotes, commas and braces") {
  const auto s = parse_agent_states(
      "sanwatch_state{target_type=\"map\",target=\"db \\\"x\\\", y}\\\\\",state=\"stalled\"} 1\n"
      "sanwatch_state{state=\"ok\",target=\"state=\\\"slow\\\"\"} 1\n");
  REQUIRE(s.count("db \"x\", y}\\"));
  CHECK(s.at("db \"x\", y}\\").state == "stalled");
  REQUIRE(s.count("state=\"slow\""));
  CHECK(s.at("state=\"slow\"").state == "ok");
}

namespace {

MapRow nvme_head() {
  MapRow m;
  m.info.name = "nvme0n1";
  m.info.wwid = "uuid.5a1c3e0b-7f1d-4c7e-9a55-3b2d8c41f0aa";
  m.total_paths = 2;
  for (int c = 0; c < 2; ++c) {
    PathRow p;
    p.info.name = "nvme0c" + std::to_string(c) + "n1";
    p.info.id = DevId{259, static_cast<unsigned>(2 * c)};
    p.info.transport = "nvme";
    p.info.nvme_transport = "tcp";
    p.info.host = "nvme" + std::to_string(c);
    p.info.scsi_state = "live";
    p.info.alua_state = c ? "inaccessible" : "optimized";
    p.info.ana_group = "1";
    p.info.array_id = "nqn.2024-12.io.sanwatch.lab:ana";
    p.info.target_port = "traddr=127.0.0.1,trsvcid=442" + std::to_string(c);
    m.paths.push_back(p);
  }
  m.valid_paths = 0;
  for (auto& p : m.paths) {
    p.state = derived_path_state(p);
    m.valid_paths += p.state == "ok";
  }
  m.state = derived_map_state(m);
  return m;
}

}  // namespace

TEST_CASE("NVMe paths: derived from ANA and controller state; JSON and text show the identity") {
  MapRow m = nvme_head();
  CHECK(m.paths[0].state == "ok");
  CHECK(m.paths[1].state == "failed");  // ana_state inaccessible
  CHECK(m.state == "degraded");
  m.paths[0].info.scsi_state = "connecting";
  CHECK(derived_path_state(m.paths[0]) == "failed");
  m.paths[0].info.scsi_state = "live";
  m.paths[0].info.alua_state = "bogus";  // unknown ANA state: not usable
  CHECK(derived_path_state(m.paths[0]) == "failed");

  const PathsReport r{"t", 0, "derived", {nvme_head()}};
  const auto j = paths_json(r);
  const auto& p = j["maps"][0]["paths"][1];
  CHECK(p["dev"] == "259:2");
  CHECK(p["host"] == "nvme1");
  CHECK(p["nvme_transport"] == "tcp");
  CHECK(p["array_id"] == "nqn.2024-12.io.sanwatch.lab:ana");
  CHECK(p["ana_group"] == "1");
  CHECK(p["alua_state"] == "inaccessible");
  CHECK(p["target_port"] == "traddr=127.0.0.1,trsvcid=4421");
  const std::string text = paths_text(r);
  CHECK(text.find("subsystem nqn.2024-12.io.sanwatch.lab:ana") != std::string::npos);
  CHECK(text.find("`- nvme1 nvme0c1n1 259:2") != std::string::npos);
  CHECK(text.find("nvme-tcp traddr=127.0.0.1,trsvcid=4421 inaccessible grp 1") !=
        std::string::npos);
}
