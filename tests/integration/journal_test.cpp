// SPDX-License-Identifier: Apache-2.0
// `sanwatch run` sending its state changes to journald as structured
// fields. No journald runs here, and libsystemd has the socket path built
// in: the agent runs in its own mount namespace where /run/systemd is a
// temp dir holding a socket this test reads (JournalSocket), with
// JOURNAL_STREAM set the way systemd sets it for a unit whose stderr is
// the journal (the device and inode of its stderr).
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "agent_process.h"
#include "direct_io.h"
#include "exporters/journal_sink.h"
#include "fault_disk.h"
#include "journal_socket.h"
#include "privileged.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::DirectIo;
using sanwatch::test::FaultDisk;
using sanwatch::test::JournalRecord;
using sanwatch::test::JournalSocket;
using sanwatch::test::TempDir;

namespace {

// Tracepoints only, a 500 ms stall threshold, a 1 s recovery and a 2 s
// window (the stalled read counts as slow once it completes).
std::string config_for(const FaultDisk& d) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\nrescan = \"200ms\"\n"
      "[thresholds]\nslow_io = \"20ms\"\nstall = \"500ms\"\nrecovery = \"1s\"\nslow_window = "
      "\"2s\"\n"
      "[canary]\ntargets = \"none\"\ndeadline = \"100ms\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
      d.loop_name());
}

// A private mount namespace with <root>/run/systemd over /run/systemd (or
// <root>/run over /run where there is none), then JOURNAL_STREAM naming the
// agent's stderr (`journal_is_stderr`) or its stdin (/dev/null): a variable
// inherited by a process whose stderr went elsewhere.
std::vector<std::string> journal_wrapper(const std::string& root, bool journal_is_stderr) {
  const char* script = R"sh(set -e
root=$1; fd=$2; shift 2
if [ -d /run/systemd ]; then mount --bind "$root/run/systemd" /run/systemd
else mount --bind "$root/run" /run; fi
JOURNAL_STREAM=$(stat -L -c %d:%i "/proc/self/fd/$fd")
export JOURNAL_STREAM
exec "$@")sh";
  return {"unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          script,
          "sh",
          root,
          journal_is_stderr ? "2" : "0"};
}

// The journal socket where the agent's namespace will look for it.
std::string journal_socket_path(const TempDir& root) {
  const std::string dir = root.path() + "/run/systemd/journal";
  std::filesystem::create_directories(dir);
  return dir + "/socket";
}

// Stalls the disk under one read until the agent reports it; the JSON line.
std::optional<nlohmann::json> stall_once(FaultDisk& disk, AgentProcess& agent) {
  disk.stall();
  std::thread reader([dev = disk.loop_device()] { DirectIo(dev).read(0); });
  auto ev = agent.wait_state(disk.loop_name(), "stalled", 5s);
  disk.release();
  reader.join();
  return ev;
}

bool said_journal(const AgentProcess& agent) {
  for (const auto& e : agent.events())
    if (e.value("msg", "").find("structured fields") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("journal: a stall and its recovery reach journald as structured fields") {
  sanwatch::test::require_privileged("journal test (mount namespace, BPF, fault disk)");
  TempDir root("sanwatch-journal");
  JournalSocket journal(journal_socket_path(root));
  FaultDisk disk;
  AgentProcess agent(config_for(disk), {}, journal_wrapper(root.path(), true));
  CHECK(said_journal(agent));
  const std::string dev = disk.loop_name();

  const auto ev = stall_once(disk, agent);
  REQUIRE(ev);
  auto rec = journal.wait_for(
      [&](const JournalRecord& r) {
        return r.get("SANWATCH_TARGET") == dev && r.get("SANWATCH_STATE") == "stalled";
      },
      5s);
  REQUIRE(rec);
  INFO(rec->dump());
  // The same event as the JSON line, which stays as it was.
  CHECK(rec->get("SANWATCH_MONO_NS") == std::to_string((*ev)["mono_ns"].get<std::uint64_t>()));
  CHECK(rec->get("SANWATCH_REASON") == (*ev)["reason"].get<std::string>());
  CHECK(rec->get("SANWATCH_TS") == (*ev)["ts"].get<std::string>());
  CHECK(rec->get("MESSAGE_ID") == sanwatch::journal_message_id("stalled"));
  CHECK(rec->get("PRIORITY") == "3");
  CHECK(rec->get("SYSLOG_IDENTIFIER") == "sanwatch");
  CHECK(rec->get("SANWATCH_FROM") == "ok");
  CHECK(rec->get("SANWATCH_TARGET_TYPE") == "device");
  CHECK(rec->get("SANWATCH_DEVICE") == disk.major_minor());
  CHECK(rec->get("MESSAGE").starts_with("Device " + dev + " is stalled (was ok): oldest I/O"));
  CHECK(rec->all("CODE_FILE").empty());  // no source location in the records

  REQUIRE(agent.wait_state(dev, "ok", 10s));
  auto ok = journal.wait_for(
      [&](const JournalRecord& r) {
        return r.get("SANWATCH_TARGET") == dev && r.get("SANWATCH_STATE") == "ok";
      },
      5s);
  REQUIRE(ok);
  INFO(ok->dump());
  CHECK(ok->get("PRIORITY") == "5");
  CHECK((ok->get("SANWATCH_FROM") == "stalled" || ok->get("SANWATCH_FROM") == "slow"));
  CHECK(ok->get("MESSAGE_ID") == sanwatch::journal_message_id("ok"));
  CHECK(agent.stop() == 0);
  // One record per state change, nothing else.
  CHECK(journal.records().size() == agent.states(dev).size());
}

TEST_CASE("journal: JOURNAL_STREAM naming another file than stderr sends nothing") {
  sanwatch::test::require_privileged("journal test (mount namespace, BPF, fault disk)");
  TempDir root("sanwatch-journal");
  JournalSocket journal(journal_socket_path(root));
  FaultDisk disk;
  AgentProcess agent(config_for(disk), {}, journal_wrapper(root.path(), false));
  CHECK_FALSE(said_journal(agent));
  REQUIRE(stall_once(disk, agent));
  CHECK_FALSE(journal.receive(500ms));
  CHECK(agent.stop() == 0);
}
