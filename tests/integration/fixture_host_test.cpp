// SPDX-License-Identifier: Apache-2.0
// `sanwatch run` on a fixture host (tests/fixtures/hosts/fc-3par: two 3PAR
// and two NetApp maps over 16 FC paths; nvmeof: a native NVMe head over two
// hidden paths) through the hidden --sysfs-root: the agent's own multipath
// logic end to end, without real SAN hardware. SCSI device states, ANA
// states and NVMe controller states are edited in a copy of the tree while
// the agent runs.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "agent_process.h"
#include "privileged.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
namespace fs = std::filesystem;

namespace {

// A private copy of a fixture host, removed on destruction.
class HostCopy {
 public:
  explicit HostCopy(const std::string& host) {
    root_ = fs::temp_directory_path() / ("sanwatch-host-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::copy(fs::path(SANWATCH_FIXTURES) / "hosts" / host, root_,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }
  ~HostCopy() { fs::remove_all(root_); }
  std::string root() const { return root_.string(); }
  void set_scsi_state(const std::string& disk, const std::string& state) {
    set(disk, "device/state", state);  // an NVMe path's device is its controller
  }
  void set(const std::string& disk, const std::string& attr, const std::string& value) {
    std::ofstream f(root_ / "sys/block" / disk / attr);
    f << value << "\n";
    REQUIRE(f.good());
  }

 private:
  fs::path root_;
};

const std::string kConfig =
    "[devices]\nrescan = \"200ms\"\n[thresholds]\nrecovery = \"500ms\"\n"
    "[canary]\ntargets = \"none\"\n"
    "[metrics]\nlisten = \"127.0.0.1:0\"\n";

}  // namespace

TEST_CASE("fixture host: every path through one target port down blames that port") {
  sanwatch::test::require_privileged("fixture host test (BPF)");
  HostCopy host("fc-3par");
  // 0x20110002ac01c4f1 (3PAR, HBA host3) carries sda (mpatha) and sdb (mpathb).
  AgentProcess agent(kConfig, {"--sysfs-root", host.root()});
  host.set_scsi_state("sda", "offline");
  auto failed = agent.wait_state("sda", "failed", 5s);
  REQUIRE(failed);
  CHECK((*failed)["target_port"] == "0x20110002ac01c4f1");
  CHECK((*failed)["array"] == "3PARdata VV");
  // One of the port's two paths down: the port is not blamed yet.
  CHECK_FALSE(agent.wait_state("0x20110002ac01c4f1", "degraded", 600ms));
  host.set_scsi_state("sdb", "offline");
  auto port = agent.wait_state("0x20110002ac01c4f1", "degraded", 5s);
  REQUIRE(port);
  INFO(port->dump());
  CHECK((*port)["target_type"] == "port");
  CHECK((*port)["array"] == "3PARdata VV");
  CHECK((*port)["paths"] == nlohmann::json::array({"sda", "sdb"}));
  // No other port is blamed: sdk is offline in the fixture, but its port also
  // carries sdl, which is fine (the agent once blamed it at start-up, judging
  // the port before sdl had been added).
  for (const auto& e : agent.events()) {
    INFO(e.dump());
    if (e.value("event", "") == "state" && e.value("target_type", "") == "port")
      CHECK(e["target"] == "0x20110002ac01c4f1");
  }
  host.set_scsi_state("sda", "running");
  CHECK(agent.wait_state("0x20110002ac01c4f1", "ok", 5s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("fixture host: NVMe ANA and controller states fail paths without waiting for a rescan") {
  sanwatch::test::require_privileged("fixture host test (BPF)");
  HostCopy host("nvmeof");
  // A rescan an hour away: only the NVMe state poll can see these changes.
  AgentProcess agent(
      "[devices]\nrescan = \"1h\"\n[thresholds]\nrecovery = \"200ms\"\n"
      "[canary]\ntargets = \"none\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      {"--sysfs-root", host.root()});
  host.set("nvme0c0n1", "ana_state", "inaccessible");
  auto failed = agent.wait_state("nvme0c0n1", "failed", 2s);
  REQUIRE(failed);
  CHECK((*failed)["reason"] == "ana_state inaccessible");
  CHECK((*failed)["device"] == "259:0");  // numbered from /proc/diskstats
  CHECK((*failed)["map"] == "nvme0n1");
  CHECK((*failed)["target_port"] == "traddr=192.168.10.21,trsvcid=4420");
  CHECK((*failed)["array_id"] ==
        "nqn.1992-08.com.netapp:sn.4f1a2b3c5d6e11eeb7d8d039ea5b3c7d:subsystem.oracle");
  auto degraded = agent.wait_state("nvme0n1", "degraded", 2s);
  REQUIRE(degraded);
  CHECK((*degraded)["valid_paths"] == 1);
  CHECK((*degraded)["total_paths"] == 2);

  // An ANA state outside the spec's five: reported, and the path not used.
  host.set("nvme0c1n1", "ana_state", "bogus");
  auto warned = agent.wait_log("ANA state 'bogus'", 2s);
  REQUIRE(warned);
  CHECK((*warned)["level"] == "warn");
  auto unknown = agent.wait_state("nvme0c1n1", "failed", 2s);
  REQUIRE(unknown);
  CHECK((*unknown)["reason"] == "unknown ana_state 'bogus'");
  CHECK(agent.wait_state("nvme0n1", "down", 2s));

  // Back to ANA states the kernel uses: both paths ok, the head too.
  host.set("nvme0c1n1", "ana_state", "non-optimized");
  host.set("nvme0c0n1", "ana_state", "optimized");
  CHECK(agent.wait_state("nvme0c1n1", "ok", 2s));
  CHECK(agent.wait_state("nvme0n1", "ok", 2s));

  // The controller reconnecting (its port gone): named as the cause.
  host.set_scsi_state("nvme0c1n1", "connecting");
  auto lost = agent.wait_state("nvme0c1n1", "failed", 2s);
  REQUIRE(lost);
  CHECK((*lost)["reason"] == "controller connecting");
  CHECK(agent.wait_state("nvme0n1", "degraded", 2s));
  host.set_scsi_state("nvme0c1n1", "live");
  CHECK(agent.wait_state("nvme0c1n1", "ok", 2s));
  CHECK(agent.wait_state("nvme0n1", "ok", 2s));
  CHECK(agent.stop() == 0);
}
