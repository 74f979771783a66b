// SPDX-License-Identifier: Apache-2.0
#include "host/topology.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <tuple>

namespace fs = std::filesystem;

namespace sanwatch {
namespace {

bool is_pad(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\0'; }

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_pad(s.back())) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// First line of a sysfs attribute, trailing padding removed. nullopt when it
// cannot be opened or read: sysfs fails reads it cannot answer (wwid without
// VPD data, access_state without a device handler).
std::optional<std::string> read_attr(const fs::path& p) {
  std::ifstream f(p);
  if (!f) return std::nullopt;
  std::string s;
  if (!std::getline(f, s)) return std::nullopt;
  return std::string(trim_right(s));
}

std::string attr(const fs::path& p) { return read_attr(p).value_or(""); }

// The same attribute under the device tree and under /sys/class: old kernels
// and odd drivers do not always provide both.
std::string attr_either(const fs::path& dir, const fs::path& class_dir, const char* name) {
  if (dir.is_absolute()) {  // relative: the walk up the device path found no anchor
    if (auto v = read_attr(dir / name)) return *v;
  }
  return attr(class_dir / name);
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return {};
  std::string s(64 * 1024, '\0');  // a VPD page is at most 64 KiB + header
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(std::max<std::streamsize>(f.gcount(), 0)));
  return s;
}

fs::path sys_path(const SysfsBlock& sys, const std::string& rel) {
  const std::string& root = sys.root();
  return fs::path(root.empty() ? "/" : root) / "sys" / rel;
}

bool is_hctl(std::string_view s) {
  for (int i = 0; i < 3; ++i) {
    auto colon = s.find(':');
    if (colon == std::string_view::npos || !all_digits(s.substr(0, colon))) return false;
    s.remove_prefix(colon + 1);
  }
  return all_digits(s);
}

bool is_numbered(std::string_view s, std::string_view prefix) {
  return s.starts_with(prefix) && all_digits(s.substr(prefix.size()));
}

// "nvme0c1n1" (a hidden native-multipath path) -> its head "nvme0n1".
std::optional<std::string> nvme_head_name(std::string_view s) {
  if (!s.starts_with("nvme")) return std::nullopt;
  auto c = s.find('c', 4), n = s.find('n', 4);
  if (c == std::string_view::npos || n == std::string_view::npos || n < c) return std::nullopt;
  if (!all_digits(s.substr(4, c - 4)) || !all_digits(s.substr(c + 1, n - c - 1)) ||
      !all_digits(s.substr(n + 1)))
    return std::nullopt;
  return std::string(s.substr(0, c)) + std::string(s.substr(n));
}

// The SCSI device directory of a disk: where its `device` link points, or
// the parent of its `block` directory when a tree lacks the link.
std::optional<fs::path> scsi_device_dir(const fs::path& disk_dir) {
  std::error_code ec;
  auto dev = fs::canonical(disk_dir / "device", ec);
  if (!ec) return dev;
  auto disk = fs::canonical(disk_dir, ec);
  if (ec || disk.parent_path().filename() != "block") return std::nullopt;
  return disk.parent_path().parent_path();
}

// The transport object between the SCSI host and the target: FC rport-*,
// iSCSI session*, SAS end_device-*. The device path encodes it, so no
// driver-specific attribute is needed to tell transports apart.
struct TransportHop {
  std::string kind;
  fs::path dir;
  fs::path host_dir;
};

TransportHop find_transport(const fs::path& sdev) {
  TransportHop t;
  for (fs::path p = sdev.parent_path(); p.has_relative_path(); p = p.parent_path()) {
    const std::string n = p.filename().string();
    if (is_numbered(n, "host")) {
      t.host_dir = p;
      break;
    }
    if (!t.kind.empty()) continue;
    if (n.starts_with("rport-")) t = {"fc", p, {}};
    if (is_numbered(n, "session")) t = {"iscsi", p, {}};
    if (n.starts_with("end_device-")) t = {"sas", p, {}};
  }
  return t;
}

void fill_fc(const SysfsBlock& sys, const TransportHop& t, PathInfo& p) {
  const std::string rport = t.dir.filename().string();
  const fs::path rattrs = t.dir / "fc_remote_ports" / rport;
  const fs::path rclass = sys_path(sys, "class/fc_remote_ports/" + rport);
  p.target_port = attr_either(rattrs, rclass, "port_name");
  p.array_id = attr_either(rattrs, rclass, "node_name");
  const fs::path hattrs = t.host_dir / "fc_host" / p.host;
  p.host_port = attr_either(hattrs, sys_path(sys, "class/fc_host/" + p.host), "port_name");
}

// The session's first connection: iscsid uses one connection per session.
fs::path iscsi_connection(const SysfsBlock& sys, const fs::path& session_dir, std::string sid) {
  const std::string prefix = "connection" + sid + ":";
  std::vector<std::string> conns;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(session_dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.starts_with(prefix)) conns.push_back(std::move(n));
  }
  if (conns.empty()) return sys_path(sys, "class/iscsi_connection/" + prefix + "0");
  std::sort(conns.begin(), conns.end());
  return session_dir / conns.front() / "iscsi_connection" / conns.front();
}

void fill_iscsi(const SysfsBlock& sys, const TransportHop& t, PathInfo& p) {
  const std::string session = t.dir.filename().string();
  const fs::path sattrs = t.dir / "iscsi_session" / session;
  const fs::path sclass = sys_path(sys, "class/iscsi_session/" + session);
  p.array_id = attr_either(sattrs, sclass, "targetname");
  p.iscsi.session = session;
  // No uevent tells of session state changes: read at every rescan.
  p.iscsi.session_state = attr_either(sattrs, sclass, "state");
  p.iscsi.tpgt = attr_either(sattrs, sclass, "tpgt");
  const fs::path conn = iscsi_connection(sys, t.dir, session.substr(7));
  p.iscsi.connection_state = attr(conn / "state");
  // persistent_* is the portal logged into (what iscsiadm shows); address
  // may be a redirect target.
  std::string addr = attr(conn / "persistent_address"), port = attr(conn / "persistent_port");
  if (addr.empty()) {
    addr = attr(conn / "address");
    port = attr(conn / "port");
  }
  if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";  // IPv6
  if (!port.empty()) addr += ":" + port;
  p.iscsi.portal = addr;
  p.target_port = addr.empty() ? p.array_id : p.array_id + "," + addr;
}

void fill_sas(const SysfsBlock& sys, const TransportHop& t, const fs::path& sdev, PathInfo& p) {
  p.target_port = attr(sdev / "sas_address");  // mpt3sas and friends put it on the device
  if (t.kind != "sas") return;
  const std::string end = t.dir.filename().string();
  const fs::path dev = t.dir / "sas_device" / end;
  const fs::path cls = sys_path(sys, "class/sas_device/" + end);
  if (p.target_port.empty()) p.target_port = attr_either(dev, cls, "sas_address");
  p.array_id = attr_either(dev, cls, "enclosure_identifier");
}

std::optional<PathInfo> scsi_path(const SysfsBlock& sys, const BlockDevice& d,
                                  const fs::path& dir) {
  auto sdev = scsi_device_dir(dir);
  if (!sdev || !is_hctl(sdev->filename().string())) return std::nullopt;
  PathInfo p;
  p.name = d.name;
  p.id = d.id;
  p.hctl = sdev->filename().string();
  p.host = "host" + p.hctl.substr(0, p.hctl.find(':'));
  p.scsi_state = attr(*sdev / "state");
  p.vendor = trim_id_string(attr(*sdev / "vendor"));
  p.model = trim_id_string(attr(*sdev / "model"));
  p.rev = trim_id_string(attr(*sdev / "rev"));
  p.wwid = attr(*sdev / "wwid");
  // Old kernels (before ~4.5) have no wwid attribute; fall back to the raw page.
  if (p.wwid.empty()) p.wwid = wwid_from_vpd83(read_bytes(*sdev / "vpd_pg83"));
  p.serial = serial_from_vpd80(read_bytes(*sdev / "vpd_pg80"));
  p.alua_state = attr(*sdev / "access_state");
  const AluaPort port = alua_port_from_vpd83(read_bytes(*sdev / "vpd_pg83"));
  p.alua_group = port.group;
  p.rel_port = port.rel_port;
  const TransportHop t = find_transport(*sdev);
  if (t.kind == "fc") fill_fc(sys, t, p);
  if (t.kind == "iscsi") fill_iscsi(sys, t, p);
  if (t.kind == "sas" || t.kind.empty()) fill_sas(sys, t, *sdev, p);
  p.transport = t.kind.empty() && !p.target_port.empty() ? "sas" : t.kind;
  return p;
}

// The target side of a fabrics controller's address: its keys other than
// the host side's (src_addr, host_traddr, host_iface), which 6.1 leaves out
// while the controller is connecting, so the port keeps one name.
std::string nvme_target_address(std::string_view addr) {
  std::string out;
  while (!addr.empty()) {
    const auto comma = addr.find(',');
    const std::string_view kv = addr.substr(0, comma);
    addr.remove_prefix(comma == std::string_view::npos ? addr.size() : comma + 1);
    if (kv.starts_with("src_addr=") || kv.starts_with("host_traddr=") ||
        kv.starts_with("host_iface=") || kv.empty())
      continue;
    if (!out.empty()) out += ',';
    out += kv;
  }
  return out;
}

// An NVMe namespace reached through one controller: a plain namespace
// (nvme0n1 on a single-port drive) or a hidden native-multipath path
// (nvme0c1n1). Heads hang off the subsystem, not a controller.
std::optional<PathInfo> nvme_path(const BlockDevice& d, const fs::path& dir) {
  std::error_code ec;
  const fs::path ctrl = fs::canonical(dir / "device", ec);
  if (ec || !is_numbered(ctrl.filename().string(), "nvme")) return std::nullopt;
  PathInfo p;
  p.name = d.name;
  p.id = d.id;
  p.host = ctrl.filename().string();
  p.scsi_state = attr(ctrl / "state");
  p.model = trim_id_string(attr(ctrl / "model"));
  p.rev = trim_id_string(attr(ctrl / "firmware_rev"));
  p.wwid = attr(dir / "wwid");
  p.alua_state = attr(dir / "ana_state");
  p.ana_group = attr(dir / "ana_grpid");
  p.transport = "nvme";
  p.nvme_transport = attr(ctrl / "transport");
  if (p.nvme_transport != "pcie") p.target_port = nvme_target_address(attr(ctrl / "address"));
  p.array_id = attr(ctrl / "subsysnqn");
  return p;
}

MapInfo dm_map(const BlockDevice& d, const fs::path& dir) {
  MapInfo m{d.name, d.dm_name, d.wwid, d.id, {}};
  std::error_code ec;
  for (const auto& s : d.slaves) {
    if (fs::exists(dir / "slaves" / s, ec)) m.paths.push_back(s);  // a dangling link: path gone
  }
  return m;
}

// A native NVMe multipath head lives under /sys/devices/virtual/nvme-subsystem;
// its paths are named nvme<subsys>c<ctrl>n<ns> after it (kernel naming rule),
// and 6.15+ also lists them in <head>/multipath/.
std::optional<MapInfo> nvme_head(const BlockDevice& d, const fs::path& dir,
                                 const std::vector<BlockDevice>& disks) {
  std::error_code ec;
  const fs::path real = fs::canonical(dir, ec);
  if (ec || !real.parent_path().filename().string().starts_with("nvme-subsys")) return std::nullopt;
  MapInfo m{d.name, "", attr(dir / "wwid"), d.id, {}};
  for (const auto& e : fs::directory_iterator(dir / "multipath", ec))
    m.paths.push_back(e.path().filename().string());
  if (m.paths.empty()) {
    for (const auto& other : disks) {
      if (nvme_head_name(other.name) == d.name) m.paths.push_back(other.name);
    }
  }
  std::sort(m.paths.begin(), m.paths.end());
  return m;
}

// The SCSI/NVMe disks a dm device reaches through its slaves, dm devices
// below it followed (bounded: sysfs is not trusted to be acyclic).
void leaves_below(const BlockDevice& d, const std::map<std::string, const BlockDevice*>& by_name,
                  const std::map<std::string, PathInfo>& disks, std::set<std::string>& out,
                  int depth = 0) {
  if (depth > 8) return;
  for (const auto& s : d.slaves) {
    if (disks.count(s)) {
      out.insert(s);
    } else if (auto it = by_name.find(s); it != by_name.end() && it->second->is_dm()) {
      leaves_below(*it->second, by_name, disks, out, depth + 1);
    }
  }
}

// Map members that are not disks themselves (dm-delay in a test lab,
// dm-crypt or dm-integrity under multipath) become paths too, so their
// MAJ:MIN matches dm's table and status. They take the identity of the one
// disk they sit on; over several disks (a concatenation) none is theirs.
void add_stacked_paths(Topology& t, const std::vector<BlockDevice>& disks) {
  std::map<std::string, const BlockDevice*> by_name;
  for (const auto& d : disks) by_name.emplace(d.name, &d);
  std::map<std::string, PathInfo> stacked;
  for (const auto& m : t.maps) {
    for (const auto& name : m.paths) {
      auto it = by_name.find(name);
      if (t.paths.count(name) || it == by_name.end() || !it->second->is_dm()) continue;
      std::set<std::string> leaves;
      leaves_below(*it->second, by_name, t.paths, leaves);
      PathInfo p;
      if (leaves.size() == 1) {
        p = t.paths.at(*leaves.begin());
        p.lower = *leaves.begin();
      }
      p.name = name;
      p.id = it->second->id;
      stacked.emplace(name, std::move(p));
    }
  }
  t.paths.merge(stacked);
}

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 0xf];
  }
  return s;
}

// The kernel prints T10 vendor IDs with %pE: non-printable bytes escaped
// (always in octal here; the kernel writes \n, \t... for a few).
std::string escape_np(const unsigned char* p, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = p[i];
    if (c < 0x80 && std::isprint(c)) {
      s += static_cast<char>(c);
    } else {
      static constexpr char kOct[] = "01234567";
      s += {'\\', kOct[c >> 6], kOct[(c >> 3) & 7], kOct[c & 7]};
    }
  }
  return s;
}

// Preference among LUN designators, as drivers/scsi/scsi_lib.c ranks them:
// longer identifiers are less likely to clash. 0 = not usable.
unsigned designator_prio(const unsigned char* d) {
  if ((d[1] & 0x30) != 0 || d[3] == 0) return 0;  // not the LUN's, or empty
  switch (d[1] & 0xf) {
    case 8:
      return 9;  // SCSI name string
    case 3:
      switch (d[4] >> 4) {
        case 6:
          return 8;  // NAA IEEE registered extended
        case 5:
          return 5;  // NAA IEEE registered
        case 4:
          return 4;  // NAA IEEE extended
        case 3:
          return 1;  // NAA locally assigned
      }
      return 0;
    case 2:
      return d[3] == 16 ? 7 : d[3] == 12 ? 6 : d[3] == 8 ? 3 : 0;  // EUI-64 based
    case 1:
      return 1;  // T10 vendor ID
  }
  return 0;
}

}  // namespace

std::string PathInfo::array() const {
  if (vendor.empty() || model.empty()) return vendor + model;
  return vendor + " " + model;
}

const MapInfo* Topology::map_of(const std::string& path) const {
  for (const auto& m : maps) {
    if (std::binary_search(m.paths.begin(), m.paths.end(), path)) return &m;
  }
  return nullptr;
}

const MapInfo* Topology::map_named(const std::string& name) const {
  for (const auto& m : maps)
    if (m.name == name) return &m;
  return nullptr;
}

std::string trim_id_string(std::string_view s) {
  s = trim_right(s);
  while (!s.empty() && is_pad(s.front())) s.remove_prefix(1);
  return std::string(s);
}

std::string wwid_from_vpd83(std::string_view page) {
  if (page.size() < 4) return "";
  const auto* data = reinterpret_cast<const unsigned char*>(page.data());
  const std::size_t end = std::min(page.size(), 4 + (std::size_t{data[2]} << 8 | data[3]));
  std::string id;
  unsigned cur_prio = 0, cur_size = 0;
  // Unlike the kernel, which trusts the device, stop at a designator that
  // runs past the data: the file may be truncated or garbage.
  for (std::size_t off = 4; off + 4 <= end && off + 4 + data[off + 3] <= end;
       off += 4 + data[off + 3]) {
    const unsigned char* d = data + off;
    const unsigned prio = designator_prio(d);
    if (prio == 0 || cur_prio > prio) continue;
    const unsigned type = d[1] & 0xf, len = d[3];
    if ((type == 1 || type == 8) && cur_size > len) continue;
    cur_prio = prio;
    cur_size = len;
    if (type == 1) id = "t10." + escape_np(d + 4, len);
    if (type == 2 && (len == 8 || len == 12 || len == 16)) id = "eui." + hex(d + 4, len);
    if (type == 3 && (len == 8 || len == 16)) id = "naa." + hex(d + 4, len);
    if (type == 8) id.assign(reinterpret_cast<const char*>(d + 4), len);
  }
  return std::string(trim_right(id.substr(0, id.find('\0'))));
}

AluaPort alua_port_from_vpd83(std::string_view page) {
  AluaPort out;
  if (page.size() < 4 || static_cast<unsigned char>(page[1]) != 0x83) return out;
  const auto* data = reinterpret_cast<const unsigned char*>(page.data());
  const std::size_t end = std::min(page.size(), 4 + (std::size_t{data[2]} << 8 | data[3]));
  for (std::size_t off = 4; off + 4 <= end && off + 4 + data[off + 3] <= end;
       off += 4 + data[off + 3]) {
    const unsigned char* d = data + off;
    // Binary code set, associated with the target port, 4 bytes whose last
    // two are the identifier (SPC-4 7.8.6.5 and 7.8.6.6).
    if ((d[0] & 0xf) != 1 || ((d[1] >> 4) & 3) != 1 || d[3] != 4) continue;
    const int id = d[6] << 8 | d[7];
    if ((d[1] & 0xf) == 5) out.group = id;
    if ((d[1] & 0xf) == 4) out.rel_port = id;
  }
  return out;
}

std::string serial_from_vpd80(std::string_view page) {
  if (page.size() < 4 || static_cast<unsigned char>(page[1]) != 0x80) return "";
  const auto* data = reinterpret_cast<const unsigned char*>(page.data());
  const std::size_t len = std::size_t{data[2]} << 8 | data[3];
  if (page.size() - 4 < len) return "";  // truncated: what is left may not be the serial
  std::string text = trim_id_string(page.substr(4, len));
  text = trim_id_string(text.substr(0, text.find('\0')));  // a C string in a padded field
  return escape_np(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

Result<Topology> read_topology(const SysfsBlock& sys) {
  auto disks = sys.disks();
  if (!disks) return disks.error();
  return read_topology(sys, *disks);
}

Topology read_topology(const SysfsBlock& sys, const std::vector<BlockDevice>& disks) {
  Topology t;
  std::set<std::string> below_dm;  // every disk some dm device sits on
  for (const auto& d : disks)
    if (d.is_dm()) below_dm.insert(d.slaves.begin(), d.slaves.end());
  for (const auto& d : disks) {
    const fs::path dir = sys_path(sys, "block/" + d.name);
    if (d.is_dm()) {
      if (d.is_multipath()) t.maps.push_back(dm_map(d, dir));
      continue;
    }
    // An empty disk nothing sits on (an unbound loop device) is nobody's path;
    // skipping it keeps rescans cheap on hosts with hundreds of them.
    if (d.size_bytes == 0 && !below_dm.count(d.name)) continue;
    if (d.name.starts_with("nvme"))
      if (auto head = nvme_head(d, dir, disks)) {
        t.maps.push_back(std::move(*head));
        continue;
      }
    auto p = d.name.starts_with("nvme") ? nvme_path(d, dir) : scsi_path(sys, d, dir);
    if (p) t.paths.emplace(d.name, std::move(*p));
  }
  std::sort(t.maps.begin(), t.maps.end(), [](const MapInfo& a, const MapInfo& b) {
    return std::tie(a.label(), a.name) < std::tie(b.label(), b.name);
  });
  add_stacked_paths(t, disks);
  return t;
}

}  // namespace sanwatch
