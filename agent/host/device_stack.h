// SPDX-License-Identifier: Apache-2.0
// What a filesystem really lives on: the block device behind a path and
// every device below it (the disk of a partition, the slaves of a dm or md
// device, recursively), read from sysfs under an injectable root. The ledger
// uses it to refuse to trust a disk it watches with its own evidence.
#pragma once

#include <string>
#include <vector>

#include "host/block_devices.h"

namespace sanwatch {

// Kernel names of `id` and of every device below it, top first; empty when
// `id` is not a block device (tmpfs, overlay, btrfs subvolumes: major 0).
std::vector<std::string> devices_below(const std::string& root, DevId id);

// The device of the filesystem holding `path` (or its nearest existing
// parent directory), from stat(2).
std::optional<DevId> filesystem_device(const std::string& path);

}  // namespace sanwatch
