// SPDX-License-Identifier: Apache-2.0
// The SAN topology as sysfs describes it: multipath maps, their paths, and
// what each path reaches (transport, target port, array). A pure read of the
// SysfsBlock root, so fixture trees stand in for /sys in tests.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "host/block_devices.h"

namespace sanwatch {

// A SCSI or NVMe disk that is, or could be, a multipath path.
struct PathInfo {
  std::string name;  // sdb, nvme0c1n1
  DevId id;
  std::string hctl;                // "3:0:1:2" (H:C:T:L); empty for NVMe
  std::string host;                // "host3"; the controller ("nvme1") for NVMe
  std::string scsi_state;          // device/state: running, offline, blocked, transport-offline...;
                                   // the controller state (live, connecting...) for NVMe
  std::string vendor, model, rev;  // trimmed INQUIRY strings; NVMe: model and firmware
  std::string wwid;  // kernel form: naa.<hex>, eui.<hex>, t10.<text>, or a SCSI name string
  // The LUN's unit serial number (VPD page 0x80); "" when the device has no
  // such page, and for NVMe (its serial is the controller's, not the LUN's).
  std::string serial;
  std::string alua_state;  // access_state (active/optimized...) or NVMe ana_state; "" if none
  std::string transport;   // "fc", "iscsi", "sas", "nvme" or "" when unknown
  // FC: remote port WWPN ("0x..."); iSCSI: "<target iqn>,<portal>:<port>";
  // SAS: sas_address; NVMe over fabrics: the controller address.
  std::string target_port;
  // The array behind the path: FC remote node name (WWNN), iSCSI target IQN,
  // SAS enclosure identifier, NVMe subsystem NQN. Best effort, "" if unknown.
  std::string array_id;
  std::string host_port;  // FC: the HBA port's own WWPN; "" otherwise
  // NVMe: the controller's transport (tcp, rdma, fc, loop, pcie) and the
  // path's ANA group id (ana_grpid); "" otherwise or when unknown.
  std::string nvme_transport, ana_group;
  // ALUA: the target port group and relative target port of the port this
  // path reaches (VPD page 0x83); -1 when the device does not say.
  int alua_group = -1;
  int rel_port = -1;
  // iSCSI only: the session this path runs over and what it reaches.
  struct Iscsi {
    std::string session;           // "session3"
    std::string session_state;     // LOGGED_IN, FAILED, FREE
    std::string connection_state;  // up, failed, ...
    std::string portal;            // "10.0.0.5:3260", "[fe80::1]:3260"
    std::string tpgt;              // target portal group tag, "1"
  } iscsi;
  // A stacked path (a dm device such as dm-delay or dm-crypt between the map
  // and the disk): the SCSI/NVMe disk below it, whose identity and state
  // the fields above are. Empty when the path is that disk itself.
  std::string lower;

  std::string array() const;  // "<vendor> <model>", e.g. "3PARdata VV"
};

// A multipath map: a dm-multipath device (uuid "mpath-<wwid>") or an NVMe
// native-multipath head (nvme0n1 over hidden nvme0c0n1, nvme0c1n1...).
struct MapInfo {
  std::string name;     // kernel name: dm-0, nvme0n1
  std::string dm_name;  // mpatha; empty for NVMe heads
  std::string wwid;     // dm: from dm/uuid ("3600..." as udev writes it); NVMe: the head's wwid
  DevId id;
  std::vector<std::string> paths;  // kernel names of the paths, sorted

  // The name people know the map by: dm_name, or the kernel name for NVMe.
  const std::string& label() const { return dm_name.empty() ? name : dm_name; }
};

struct Topology {
  std::vector<MapInfo> maps;  // sorted by label()
  // Every SCSI/NVMe disk found, and every dm device that is a map's path
  // (identity from the disk below it, when there is exactly one), by name.
  std::map<std::string, PathInfo> paths;

  const MapInfo* map_of(const std::string& path) const;
  // The map whose kernel name is `name` (dm-0, nvme0n1), if any.
  const MapInfo* map_named(const std::string& name) const;
};

// Reads maps and paths below sys.root(). Only an unreadable sys/block is an
// error: missing attributes are empty strings and vanished devices (broken
// links, unreadable files) are skipped, since hosts change under the scan.
Result<Topology> read_topology(const SysfsBlock& sys);
// The same over disks the caller already listed with sys.disks(), so a
// rescan reads each disk's sysfs directory once.
Topology read_topology(const SysfsBlock& sys, const std::vector<BlockDevice>& disks);

// The LUN identifier from a binary VPD page 0x83 (sysfs vpd_pg83), chosen
// and formatted as the kernel's scsi_vpd_lun_id() does for the `wwid`
// attribute: "naa.<hex>", "eui.<hex>", "t10.<text>" or a SCSI name string.
// Empty when the page has no usable LUN designator or is malformed.
std::string wwid_from_vpd83(std::string_view page);

// The unit serial number from a binary VPD page 0x80 (sysfs vpd_pg80): the
// ASCII after the 4-byte header, without its padding (spaces, NULs); bytes
// that are not printable ASCII escaped as the kernel's %pE does. Empty when
// the page is not 0x80 or is shorter than its header says.
std::string serial_from_vpd80(std::string_view page);

// The ALUA target port group and relative target port identifiers from a
// binary VPD page 0x83 (designator types 5 and 4, associated with the target
// port); -1 for each one the page does not carry or that is malformed.
struct AluaPort {
  int group = -1;
  int rel_port = -1;
};
AluaPort alua_port_from_vpd83(std::string_view page);

// A fixed-width INQUIRY or NVMe identify string without its padding.
std::string trim_id_string(std::string_view s);

}  // namespace sanwatch
