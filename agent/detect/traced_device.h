// SPDX-License-Identifier: Apache-2.0
// The engine's view of a host block device: the one place where the host
// layer's description meets the kernel layer's.
#pragma once

#include "host/block_devices.h"
#include "kernel/bpf_engine.h"

namespace sanwatch {

inline TracedDevice traced(const BlockDevice& d) {
  return TracedDevice{d.name, d.id.kernel_dev(), d.nr_hw_queues, d.tags_per_queue};
}

}  // namespace sanwatch
