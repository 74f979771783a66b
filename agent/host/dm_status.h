// SPDX-License-Identifier: Apache-2.0
// Device-mapper status through the DM ioctls on /dev/mapper/control (no
// dmsetup fork), and parsers for the multipath target's status and table
// lines. The buffer walkers are pure functions so they can be tested with
// crafted buffers on a kernel without device-mapper.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "host/block_devices.h"  // DevId

namespace sanwatch {

inline constexpr const char* kDmControl = "/dev/mapper/control";

// One line of `dmsetup status` / `dmsetup table`.
struct DmTarget {
  std::uint64_t start = 0;   // sectors
  std::uint64_t length = 0;  // sectors
  std::string type;          // multipath, linear, delay, ...
  std::string params;        // the target's status or table string
};

// --- ioctls ----------------------------------------------------------------

// DM_TABLE_STATUS for a map given by name, uuid or MAJ:MIN (name is tried
// first, then uuid). table=true sets DM_STATUS_TABLE_FLAG (`dmsetup table`),
// otherwise DM_NOFLUSH_FLAG so reading status never waits on the device.
// Retries with a bigger buffer while the kernel reports DM_BUFFER_FULL_FLAG.
Result<std::vector<DmTarget>> dm_status(const std::string& dm_name_or_uuid, bool table,
                                        const std::string& control = kDmControl);

// --- pure buffer walkers ---------------------------------------------------

// buf is a whole DM_TABLE_STATUS reply: struct dm_ioctl, then target_count
// struct dm_target_spec entries from data_start up to data_size. Every
// offset, length and string is bounds-checked against buf.
Result<std::vector<DmTarget>> parse_status_reply(std::span<const std::byte> buf);

// The data area alone: `next` offsets count from its first byte (for
// DM_TABLE_STATUS; DM_TABLE_LOAD uses relative offsets, see dm-ioctl.h).
Result<std::vector<DmTarget>> parse_target_specs(std::span<const std::byte> data,
                                                 std::uint32_t target_count);

// --- multipath target ------------------------------------------------------

struct MpathStatusPath {
  DevId dev;
  bool active = false;  // 'A'; 'F' = failed
  unsigned fail_count = 0;
  std::vector<std::string> selector_args;  // e.g. queue-length's in-flight count
};

struct MpathStatusGroup {
  char state = 'E';  // 'A' active (in use), 'E' enabled, 'D' disabled (bypassed)
  std::vector<std::string> selector_args;
  std::vector<MpathStatusPath> paths;
};

// STATUSTYPE_INFO. Its features are not the table's: dm-mpath reports
// "2 <queue_io> <pg_init_count>" here; queue_if_no_path is only in the table.
struct MpathStatus {
  std::vector<std::string> features;
  std::vector<std::string> hw_handler;
  unsigned next_group = 0;  // 1-based, 0 = none
  std::vector<MpathStatusGroup> groups;

  // I/O is being queued inside dm right now (no usable path, or pg_init).
  bool queueing_io() const { return features.size() == 2 && features[0] == "1"; }
  unsigned valid_paths() const;
  unsigned total_paths() const;
};

// The priority group dm sends I/O to: the one in state A (initialised, in
// use), else the one it will pick next; 1-based, 0 when there is none.
unsigned active_group(const MpathStatus& s);

struct MpathTablePath {
  DevId dev;
  std::vector<std::string> selector_args;  // round-robin: repeat count
};

struct MpathTableGroup {
  std::string selector;  // round-robin, queue-length, service-time, ...
  std::vector<std::string> selector_args;
  std::vector<MpathTablePath> paths;
};

struct MpathTable {
  std::vector<std::string> features;
  std::vector<std::string> hw_handler;  // e.g. {"alua"}
  unsigned next_group = 0;
  std::vector<MpathTableGroup> groups;

  bool queue_if_no_path() const;
};

// params only (what the ioctl returns): "2 0 0 0 1 1 A 0 2 0 8:0 A 0 8:16 F 1".
Result<MpathStatus> parse_multipath_status(std::string_view params);
// "0 0 1 1 round-robin 0 2 1 8:0 1 8:16 1".
Result<MpathTable> parse_multipath_table(std::string_view params);

// Both ioctls on one multipath map, parsed (the watchdog's dm checks, `paths`).
struct MultipathReport {
  std::string map;
  MpathTable table;
  MpathStatus status;
};
Result<MultipathReport> read_multipath(const std::string& map,
                                       const std::string& control = kDmControl);

}  // namespace sanwatch
