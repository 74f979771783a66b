// SPDX-License-Identifier: Apache-2.0
// Whether a native NVMe multipath path can carry I/O, from the two things
// the kernel publishes about it: the path's ANA state (sysfs ana_state of
// the hidden disk nvmeXcYnZ) and its controller's state (nvmeY/state).
// Neither change sends a uevent, so callers re-read them (nvme_path_state)
// and judge them here (pure).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "host/block_devices.h"

namespace sanwatch {

struct NvmePathVerdict {
  bool usable = true;
  // Why not usable: "ana_state inaccessible", "controller connecting",
  // "unknown ana_state 'x'"; empty when usable.
  std::string reason;
  // An ana_state outside optimized, non-optimized, inaccessible,
  // persistent-loss, change: worth reporting, never silently accepted.
  bool unknown_ana = false;
};

// ana_state empty (a namespace without ANA, or a plain PCIe drive) counts as
// usable; a controller is usable only when live.
NvmePathVerdict judge_nvme_path(std::string_view ana_state, std::string_view ctrl_state);

// Freshly read: the path disk's ana_state and its controller's state (the
// whole line: "deleting (no IO)" is one state). nullopt for a field whose
// file is gone or unreadable.
struct NvmePathState {
  std::optional<std::string> ana_state, ctrl_state;
};
// The controller is the disk's `device` link.
NvmePathState read_nvme_path_state(const SysfsBlock& sys, const std::string& path_disk);

}  // namespace sanwatch
