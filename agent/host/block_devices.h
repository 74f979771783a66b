// SPDX-License-Identifier: Apache-2.0
// Block devices as sysfs describes them, read through an injectable root so
// fixture trees can stand in for /sys and /dev in tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sanwatch {

struct DevId {
  unsigned major = 0;
  unsigned minor = 0;
  bool operator==(const DevId&) const = default;
  // The kernel's internal dev_t encoding (MKDEV): what BPF programs see.
  std::uint32_t kernel_dev() const { return (major << 20) | minor; }
  std::string str() const { return std::to_string(major) + ":" + std::to_string(minor); }
};

// Parses "MAJ:MIN" (sysfs `dev` files, user input).
std::optional<DevId> parse_dev_id(const std::string& s);

// Device numbers by name from /proc/diskstats text ("MAJ MIN name ..." per
// line). The kernel lists hidden disks there (NVMe multipath paths,
// nvme0c1n1) although they have no sysfs `dev` attribute; malformed lines
// are skipped.
std::map<std::string, DevId> parse_diskstats(std::string_view text);

struct BlockDevice {
  std::string name;  // kernel name: sda, dm-3, loop2, nvme0n1
  DevId id;
  std::string dm_name;  // device-mapper map name (mpatha), empty otherwise
  std::string dm_uuid;  // mpath-<wwid> for multipath maps
  std::string wwid;     // SCSI device/wwid, or the wwid of a multipath map
  std::uint64_t size_bytes = 0;
  unsigned logical_block_size = 512;
  // blk-mq geometry: hardware queues and the tag space per queue (the larger
  // of driver tags and scheduler requests). 0 queues = bio-based device.
  unsigned nr_hw_queues = 0;
  unsigned tags_per_queue = 0;
  std::string loop_backing;         // loop devices: backing file, empty when unbound
  std::vector<std::string> slaves;  // devices below (dm paths)
  // A hidden disk (NVMe native-multipath path): no /dev node, no `dev`
  // attribute; its number, from /proc/diskstats, is what tracepoints show.
  bool hidden = false;

  // In-flight slots the BPF engine gives the device: one per tag per queue.
  unsigned tag_slots() const { return nr_hw_queues * tags_per_queue; }
  bool is_loop() const { return name.rfind("loop", 0) == 0; }
  bool is_dm() const { return name.rfind("dm-", 0) == 0; }
  bool is_multipath() const { return dm_uuid.rfind("mpath-", 0) == 0; }
};

class SysfsBlock {
 public:
  // root is "/" on a real system, a fixture directory in tests; it holds
  // sys/ and dev/.
  explicit SysfsBlock(std::string root = "/") : root_(std::move(root)) {}

  // Whole disks (/sys/block), sorted by name.
  Result<std::vector<BlockDevice>> disks() const;
  Result<BlockDevice> disk(const std::string& name) const;

  struct Resolved {
    BlockDevice disk;
    std::string requested;  // what the user typed
    std::string partition;  // non-empty when a partition was resolved to its disk
  };
  // Accepts a kernel name (sdb, dm-3, loop2, sdb1), a /dev path, a dm name
  // (mpatha, /dev/mapper/mpatha) or MAJ:MIN.
  Result<Resolved> resolve(const std::string& spec) const;

  const std::string& root() const { return root_; }
  // rel ("sys/block/sda/size", "dev/sda") under the root.
  std::string path(const std::string& rel) const;

 private:
  // hidden_devs: /proc/diskstats' numbers, read on first need (a scan
  // reads the file once for all hidden disks).
  Result<BlockDevice> disk(const std::string& name,
                           std::optional<std::map<std::string, DevId>>& hidden_devs) const;
  Result<std::string> name_from_dev_path(const std::string& spec) const;
  Result<Resolved> resolve_name(const std::string& spec, const std::string& name) const;
  std::optional<std::string> name_of_dm(const std::string& dm_name) const;

  std::string root_;
};

// True for devices the agent watches by default: real disks, dm maps, and
// bound loop devices; never ram, zram or unbound loops.
bool watchable_by_default(const BlockDevice& d, bool include_loop);

}  // namespace sanwatch
