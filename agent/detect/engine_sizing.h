// SPDX-License-Identifier: Apache-2.0
// How big the agent makes its BPF engine at start, for the disks present:
// one formula for Watchdog::start and for the tests that push past it.
#pragma once

#include <algorithm>
#include <vector>

#include "host/block_devices.h"

namespace sanwatch {

struct EngineSizing {
  unsigned devices = 0;         // disks counted (those with a size)
  unsigned max_watch = 0;       // BPF device slots
  unsigned inflight_slots = 0;  // BPF in-flight slots, across devices
};

// The per-CPU statistics cost devices x possible CPUs x ~10 KiB of kernel
// memory: size for what is here plus some room, and grow when it fills.
// tag_slots: the in-flight slots the devices need together.
inline EngineSizing engine_sizing(unsigned devices, unsigned tag_slots) {
  return {devices, devices + std::max(16u, devices / 2), std::max(16384u, 2 * tag_slots)};
}

// Over the disks listed: empty ones (unbound loop devices, drives without
// media) are not watched until they get a size; growing makes room then.
inline EngineSizing engine_sizing(const std::vector<BlockDevice>& disks) {
  unsigned devices = 0, tag_slots = 0;
  for (const auto& d : disks) {
    if (d.size_bytes == 0) continue;
    ++devices;
    tag_slots += d.tag_slots();
  }
  return engine_sizing(devices, tag_slots);
}

}  // namespace sanwatch
