// SPDX-License-Identifier: Apache-2.0
// What the detect layer shows of one target at a moment: copied on the
// event-loop thread so that readers on other threads (the /metrics server)
// never touch the engine, the prober or the detectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detect/canary.h"
#include "detect/impairment.h"
#include "detect/state_change.h"
#include "kernel/io_stats.h"

namespace sanwatch {

struct TargetSnapshot {
  std::string name;         // kernel name: label `device`
  std::string label;        // label `target`: the dm name for maps, else the kernel name
  std::string target_type;  // device, path, map
  std::string dm_name, wwid;
  bool present = true;
  bool histograms = true;         // latency histograms exported for this target
  std::optional<DeviceStats> io;  // when traced
  std::optional<std::uint64_t> oldest_start_ns;
  std::string state = "ok";
  std::vector<std::string> states;  // every state this type can be in
  std::optional<CanaryStats> canary;
  std::optional<std::uint64_t> canary_since_ns;  // outstanding canary's submit time
  std::uint64_t canary_deadline_ns = 0;
  double state_since = 0;  // wall-clock seconds of the last state change (0: none yet)
  Impairment impairment;   // the episode so far (empty when ok and quiet)
  // Since the agent started: seconds in each of `states` (same order), and
  // down seconds by the ledger's rule (AvailabilityMeter).
  std::vector<double> state_seconds;
  double down_seconds = 0;
  // Multipath.
  std::string map;  // paths: the map's label
  bool path_up = true;
  std::uint64_t transitions = 0;
  std::string array, target_port, hctl, transport, alua_state;
  // Native NVMe paths: controller (nvme1), its transport (tcp, rdma, fc,
  // pcie), subsystem NQN (array_id) and ANA group; empty otherwise.
  std::string controller, nvme_transport, ana_group;
  // The array's INQUIRY vendor and product and its own identifier (paths,
  // plain disks and [[override]]s; a map's from its first path that has them).
  std::string array_vendor, array_product, array_id;
  std::string serial;                      // paths: the LUN's serial (VPD 0x80)
  int valid_paths = -1, total_paths = -1;  // maps
  unsigned active_group = 0;               // maps: priority group carrying I/O, 1-based; 0 unknown
  // Paths: the SCSI midlayer's command counters as of the last refresh.
  bool scsi_counters = false;
  std::uint64_t scsi_iodone = 0, scsi_ioerr = 0, scsi_iotmo = 0;
};

// The identity fields a snapshot carries, for events about the target made
// from snapshots (the device number is not among them).
TargetIdentity identity_of(const TargetSnapshot& t);

}  // namespace sanwatch
