// SPDX-License-Identifier: Apache-2.0
// The typed contract between detection and everything that reports it: one
// state change of one target, with the numbers behind it and who the target
// is. The JSON line on stderr, the Alertmanager and exec sinks and /metrics
// all render from this; its JSON field names are pinned (scripts, rules and
// dashboards read them), see state_json().
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace sanwatch {

struct TargetIdentity {
  std::string label;   // "target": the dm name for maps, the port for ports, else the kernel name
  std::string type;    // "target_type": device, path, map, port
  std::string device;  // MAJ:MIN (not for ports)
  std::string kernel_name;  // sdb, dm-3: maps and paths
  std::string dm_name;
  std::string wwid;
  // Paths: their map, the disk below a stacked path, SCSI address and the
  // array behind them; ports: the array and the port.
  std::string map, lower, hctl, array, target_port, transport;
  std::vector<std::string> paths;  // ports: the paths through the port
  std::string serial;              // paths: the LUN's unit serial number (VPD page 0x80)
  // The array's own identifier (FC WWNN, iSCSI target IQN, NVMe subsystem
  // NQN; see PathInfo::array_id) when known.
  std::string array_id;
  std::string alua_state;  // paths: access_state (active/optimized, standby...) when known
};

struct StateChange {
  TargetIdentity target;
  Transition transition;      // from, to, reason, evidence
  std::string ts;             // RFC 3339 wall-clock time of the announcement
  std::uint64_t mono_ns = 0;  // CLOCK_MONOTONIC of the announcement

  std::string_view from() const { return health_name(transition.from); }
  std::string_view to() const { return health_name(transition.to); }
};

// The event as the stderr line carries it, field for field and in order:
// ts, mono_ns, event, target, target_type, from, to, reason, the evidence,
// then the identity fields that apply.
nlohmann::ordered_json state_json(const StateChange& c);
// Fields of a Transition's evidence, as JSON numbers.
nlohmann::ordered_json evidence_json(const Evidence& e);
// The identity fields that apply to the target, in their pinned order.
nlohmann::ordered_json identity_json(const TargetIdentity& id);

}  // namespace sanwatch
