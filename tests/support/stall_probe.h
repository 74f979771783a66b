// SPDX-License-Identifier: Apache-2.0
// Helpers of the fault-matrix tests (tests/faults/): a stall injected and
// timed against a running agent (proc_figures.h: what /proc says about it).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>

#include "agent_process.h"
#include "fault_disk.h"
#include "proc_figures.h"
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

}  // namespace sanwatch::test
