// SPDX-License-Identifier: Apache-2.0
// `sanwatch run` on a fixture host (tests/fixtures/hosts/fc-3par: two 3PAR
// and two NetApp maps over 16 FC paths) through the hidden --sysfs-root: the
// agent's own multipath logic end to end, without real SAN hardware. SCSI
// device states are edited in a copy of the tree while the agent runs.
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
    std::ofstream f(root_ / "sys/block" / disk / "device/state");
    f << state << "\n";
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
