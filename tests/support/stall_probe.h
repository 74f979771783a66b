// SPDX-License-Identifier: Apache-2.0
// Helpers of the fault-matrix tests (tests/faults/): a stall injected and
// timed against a running agent, and what /proc says about the agent.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent_process.h"
#include "fault_disk.h"
#include "stuck_read.h"

namespace sanwatch::test {

// One read stuck on the stalled disk until `stalled` is reported, then
// released; waits for the device to return to `back_to`. Returns the timer
// lag in ms: the age the agent reported for the stuck read (measured by the
// kernel's own start time) minus the stall threshold. The whole stalled
// event goes to *event when given.
inline double stall_lag_ms(AgentProcess& agent, FaultDisk& disk, double threshold_s,
                           const std::string& back_to = "ok", nlohmann::json* event = nullptr) {
  using namespace std::chrono_literals;
  std::optional<nlohmann::json> ev;
  {
    StuckRead r(disk);
    ev = agent.wait_state(disk.loop_name(), "stalled", 10s);
    disk.release();
  }
  REQUIRE(ev);
  INFO(ev->dump());
  REQUIRE(agent.wait_state(disk.loop_name(), back_to, 15s));
  if (event) *event = *ev;
  return ((*ev)["inflight_oldest_s"].get<double>() - threshold_s) * 1e3;
}

// A "Key:   123 kB" field of /proc/<pid>/status, in KiB (0 if missing).
inline unsigned long long proc_status_kib(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return 0;
}

// Open file descriptors of the process.
inline int proc_fd_count(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
    ++n;
  return n;
}

// CPU time (user + system, every thread) the process has used, in s.
inline double proc_cpu_s(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15: utime, stime
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Processes whose parent is `pid`, zombies included (a hook run not yet reaped).
inline int proc_children(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream f(e.path() / "stat");
    std::string stat;
    if (!std::getline(f, stat)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == pid) ++n;
  }
  return n;
}

}  // namespace sanwatch::test
