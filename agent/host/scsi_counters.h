// SPDX-License-Identifier: Apache-2.0
// The SCSI midlayer's per-device command counters (sysfs iodone_cnt,
// ioerr_cnt, iotmo_cnt): what the host saw complete, fail and time out on
// one path. They tell "the fabric lost commands" (timeouts on one path)
// from "the array failed them" (errors on every path) in a vendor call.
// A pure parser and a reader that keeps the three files open, so reading
// them every second costs three pread()s per path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace sanwatch {

struct ScsiCounters {
  std::uint64_t iodone = 0;  // commands completed (any result)
  std::uint64_t ioerr = 0;   // completed with an error result
  std::uint64_t iotmo = 0;   // timed out
  // Since `before` (each field; a counter that went backwards, a device
  // replaced under the same name, counts from 0).
  ScsiCounters since(const ScsiCounters& before) const;
  bool operator==(const ScsiCounters&) const = default;
};

// One counter file as the kernel prints it ("0x%llx\n", e.g. "0x1a2"):
// "0x" or "0X", 1-16 hex digits, an optional newline. nullopt otherwise.
std::optional<std::uint64_t> parse_scsi_counter(std::string_view s);

// The three files of one SCSI device, opened once. A device that has none
// (NVMe, dm) or vanished reads as an error; reopen() after a rescan.
class ScsiCounterFiles {
 public:
  // device_dir: <root>/sys/block/sdX/device.
  static Result<ScsiCounterFiles> open(const std::string& device_dir);
  Result<ScsiCounters> read() const;

 private:
  UniqueFd done_, err_, tmo_;
};

}  // namespace sanwatch
