// SPDX-License-Identifier: Apache-2.0
#include "host/topology.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <tuple>

using sanwatch::MapInfo;
using sanwatch::PathInfo;
using sanwatch::SysfsBlock;
using sanwatch::Topology;

namespace {

const std::string kHosts = std::string(SANWATCH_FIXTURES) + "/hosts/";

Topology load(const std::string& host) {
  auto t = sanwatch::read_topology(SysfsBlock(kHosts + host));
  REQUIRE(t.ok());
  return std::move(t).value();
}

std::vector<std::string> labels(const Topology& t) {
  std::vector<std::string> out;
  for (const auto& m : t.maps) out.push_back(m.label());
  return out;
}

std::vector<std::string> path_names(const Topology& t) {
  std::vector<std::string> out;
  for (const auto& [name, p] : t.paths) out.push_back(name);
  return out;
}

const PathInfo& path(const Topology& t, const std::string& name) {
  auto it = t.paths.find(name);
  REQUIRE(it != t.paths.end());
  return it->second;
}

std::string slurp(const std::string& file) {
  std::ifstream f(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// One VPD 0x83 designator: code set (with protocol id), PIV/association/type, data.
std::string des(int byte0, int byte1, const std::string& data) {
  return std::string{char(byte0), char(byte1), 0, char(data.size())} + data;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string page(const std::vector<std::string>& designators) {
  std::string payload;
  for (const auto& d : designators) payload += d;
  return std::string{0, char(0x83), char(payload.size() >> 8), char(payload.size() & 0xff)} +
         payload;
}

std::string naa(const std::string& hex) { return des(0x01, 0x03, from_hex(hex)); }

// A unit serial number page (0x80) around `serial`, as the device sends it.
std::string pg80(const std::string& serial) {
  return std::string{0, char(0x80), char(serial.size() >> 8), char(serial.size() & 0xff)} + serial;
}

// A VPD page 0x83: the 4-byte header, then the designators.
std::string vpd(std::initializer_list<int> designators) {
  std::string s{0x00, static_cast<char>(0x83), 0x00, static_cast<char>(designators.size())};
  for (int b : designators) s.push_back(static_cast<char>(b));
  return s;
}

}  // namespace

TEST_CASE("fc-3par: four maps, sorted by name, each over four paths") {
  const Topology t = load("fc-3par");
  CHECK(labels(t) == std::vector<std::string>{"mpatha", "mpathb", "oradata", "oraredo"});
  using V = std::vector<std::string>;
  const std::vector<std::tuple<std::string, std::string, std::string, V>> want = {
      {"mpatha", "dm-0", "360002ac0000000000000001a0001c4f1", V{"sda", "sdc", "sdi", "sdk"}},
      {"mpathb", "dm-2", "360002ac0000000000000001b0001c4f1", V{"sdb", "sdd", "sdj", "sdl"}},
      {"oradata", "dm-1", "3600a09803830416b372b4d686f355671", V{"sde", "sdg", "sdm", "sdo"}},
      {"oraredo", "dm-3", "3600a09803830416b372b4d686f355672", V{"sdf", "sdh", "sdn", "sdp"}},
  };
  REQUIRE(t.maps.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& [dm_name, name, wwid, paths] = want[i];
    INFO(dm_name);
    CHECK(t.maps[i].dm_name == dm_name);
    CHECK(t.maps[i].name == name);
    CHECK(t.maps[i].wwid == wwid);
    CHECK(t.maps[i].id == sanwatch::DevId{254, unsigned(name[3] - '0')});
    CHECK(t.maps[i].paths == paths);
  }
  CHECK(t.paths.size() == 16);
}

TEST_CASE("fc-3par: every path's SCSI identity, ALUA state and FC ports") {
  const Topology t = load("fc-3par");
  struct Want {
    const char *name, *hctl, *map, *port, *alua;
  };
  const Want want[] = {
      {"sda", "3:0:0:1", "mpatha", "0x20110002ac01c4f1", "active/optimized"},
      {"sdb", "3:0:0:2", "mpathb", "0x20110002ac01c4f1", "active/optimized"},
      {"sdc", "3:0:1:1", "mpatha", "0x21110002ac01c4f1", "active/optimized"},
      {"sdd", "3:0:1:2", "mpathb", "0x21110002ac01c4f1", "active/optimized"},
      {"sde", "3:0:2:0", "oradata", "0x200100a0985b3c7d", "active/optimized"},
      {"sdf", "3:0:2:1", "oraredo", "0x200100a0985b3c7d", "active/non-optimized"},
      {"sdg", "3:0:3:0", "oradata", "0x200300a0985b3c7d", "active/non-optimized"},
      {"sdh", "3:0:3:1", "oraredo", "0x200300a0985b3c7d", "active/optimized"},
      {"sdi", "4:0:0:1", "mpatha", "0x20120002ac01c4f1", "active/optimized"},
      {"sdj", "4:0:0:2", "mpathb", "0x20120002ac01c4f1", "active/optimized"},
      {"sdk", "4:0:1:1", "mpatha", "0x21120002ac01c4f1", "active/optimized"},
      {"sdl", "4:0:1:2", "mpathb", "0x21120002ac01c4f1", "active/optimized"},
      {"sdm", "4:0:2:0", "oradata", "0x200200a0985b3c7d", "active/optimized"},
      {"sdn", "4:0:2:1", "oraredo", "0x200200a0985b3c7d", "active/non-optimized"},
      {"sdo", "4:0:3:0", "oradata", "0x200400a0985b3c7d", "active/non-optimized"},
      {"sdp", "4:0:3:1", "oraredo", "0x200400a0985b3c7d", "active/optimized"},
  };
  unsigned minor = 0;
  for (const auto& w : want) {
    INFO(w.name);
    const PathInfo& p = path(t, w.name);
    const bool threepar = std::string(w.map).starts_with("mpath");
    CHECK(p.id == sanwatch::DevId{8, minor});
    minor += 16;
    CHECK(p.hctl == w.hctl);
    CHECK(p.host == "host" + std::string(1, w.hctl[0]));
    CHECK(p.host_port == (w.hctl[0] == '3' ? "0x10000090fa8b4c01" : "0x10000090fa8b4c02"));
    CHECK(p.scsi_state == (p.name == "sdk" ? "offline" : "running"));
    CHECK(p.vendor == (threepar ? "3PARdata" : "NETAPP"));
    CHECK(p.model == (threepar ? "VV" : "LUN C-Mode"));
    CHECK(p.rev == (threepar ? "3310" : "9800"));
    CHECK(p.array() == (threepar ? "3PARdata VV" : "NETAPP LUN C-Mode"));
    CHECK(p.alua_state == w.alua);
    CHECK(p.transport == "fc");
    CHECK(p.target_port == w.port);
    CHECK(p.array_id == (threepar ? "0x2ff70002ac01c4f1" : "0x200000a0985b3c7d"));
    const MapInfo* m = t.map_of(p.name);
    REQUIRE(m != nullptr);
    CHECK(m->dm_name == w.map);
    CHECK(p.wwid == "naa." + m->wwid.substr(1));
  }
}

TEST_CASE("fc-3par: each map reaches its array through 2 HBAs x 2 target ports") {
  const Topology t = load("fc-3par");
  std::map<std::string, std::set<std::string>> array_ports;
  for (const auto& m : t.maps) {
    INFO(m.label());
    std::set<std::string> hosts, ports, arrays;
    for (const auto& n : m.paths) {
      hosts.insert(path(t, n).host);
      ports.insert(path(t, n).target_port);
      arrays.insert(path(t, n).array_id);
    }
    CHECK(hosts == std::set<std::string>{"host3", "host4"});
    CHECK(ports.size() == 4);
    REQUIRE(arrays.size() == 1);
    array_ports[*arrays.begin()].insert(ports.begin(), ports.end());
  }
  REQUIRE(array_ports.size() == 2);
  for (const auto& [array, ports] : array_ports) CHECK(ports.size() == 4);
}

TEST_CASE("fc-3par: a path without a wwid attribute takes it from VPD page 0x83") {
  const std::string sdev = kHosts +
                           "fc-3par/sys/devices/pci0000:00/0000:00:03.0/0000:05:00.0/host3/"
                           "rport-3:0-5/target3:0:3/3:0:3:0";
  REQUIRE(std::filesystem::exists(sdev + "/vpd_pg83"));
  REQUIRE_FALSE(std::filesystem::exists(sdev + "/wwid"));
  const Topology t = load("fc-3par");
  CHECK(path(t, "sdg").hctl == "3:0:3:0");
  CHECK(path(t, "sdg").wwid == "naa.600a09803830416b372b4d686f355671");
}

TEST_CASE("fc-3par: decoding each path's VPD page gives its wwid attribute") {
  const std::string root = kHosts + "fc-3par/sys/block/";
  int compared = 0;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    const std::string dev = e.path().string() + "/device/";
    if (!std::filesystem::exists(dev + "wwid")) continue;
    INFO(e.path().filename());
    std::string wwid = slurp(dev + "wwid");
    wwid.pop_back();  // '\n'
    CHECK(sanwatch::wwid_from_vpd83(slurp(dev + "vpd_pg83")) == wwid);
    ++compared;
  }
  CHECK(compared == 15);
}

TEST_CASE("fc-3par: ONTAP LUNs have their serial from VPD page 0x80, 3PAR LUNs have none") {
  const Topology t = load("fc-3par");
  REQUIRE(t.paths.size() == 16);
  for (const auto& [name, p] : t.paths) {
    INFO(name);
    const std::string map = t.map_of(name)->label();
    if (map == "oradata")
      CHECK(p.serial == "80Ak7+Mho5Vq");  // the ASCII in its wwid, 600a0980 38 30 41 ...
    else if (map == "oraredo")
      CHECK(p.serial == "80Ak7+Mho5Vr");
    else
      CHECK(p.serial.empty());  // no vpd_pg80 file
  }
}

TEST_CASE("iscsi: one map over two sessions to two portals") {
  const Topology t = load("iscsi");
  const std::string iqn = "iqn.2010-06.com.purestorage:flasharray.3b1c2d4e5f6a7b8c";
  REQUIRE(t.maps.size() == 1);
  CHECK(t.maps[0].dm_name == "mpatha");
  CHECK(t.maps[0].name == "dm-0");
  CHECK(t.maps[0].wwid == "3624a93701c0d5b3a1a2b3c4d00011f2a");
  CHECK(t.maps[0].paths == std::vector<std::string>{"sda", "sdb"});
  CHECK(path_names(t) == std::vector<std::string>{"sda", "sdb"});
  const std::tuple<std::string, std::string, std::string> want[] = {
      {"sda", "2:0:0:1", "10.10.1.21:3260"}, {"sdb", "3:0:0:1", "10.10.2.21:3260"}};
  for (const auto& [name, hctl, portal] : want) {
    INFO(name);
    const PathInfo& p = path(t, name);
    CHECK(p.hctl == hctl);
    CHECK(p.host == "host" + hctl.substr(0, 1));
    CHECK(p.transport == "iscsi");
    CHECK(p.target_port == iqn + "," + portal);
    CHECK(p.array_id == iqn);
    CHECK(p.array() == "PURE FlashArray");
    CHECK(p.rev == "8888");
    CHECK(p.wwid == "naa.624a93701c0d5b3a1a2b3c4d00011f2a");
    CHECK(p.serial == "1C0D5B3A1A2B3C4D00011F2A");
    CHECK(p.alua_state == "active/optimized");
    CHECK(p.scsi_state == "running");
    CHECK(p.host_port.empty());
    CHECK(t.map_of(name) == &t.maps[0]);
    // The portal's identity: session, its state and TPGT, the ALUA group
    // and relative port from VPD page 0x83.
    const int n = name == "sda" ? 1 : 2;
    CHECK(p.iscsi.session == "session" + std::to_string(n));
    CHECK(p.iscsi.session_state == "LOGGED_IN");
    CHECK(p.iscsi.connection_state == "up");
    CHECK(p.iscsi.portal == portal);
    CHECK(p.iscsi.tpgt == std::to_string(n));
    CHECK(p.alua_group == n);
    CHECK(p.rel_port == n);
  }
}

TEST_CASE("fc: paths have no iSCSI identity; ALUA groups from VPD 0x83 where the array sets them") {
  const Topology t = load("fc-3par");
  for (const auto& [name, p] : t.paths) {
    INFO(name);
    CHECK(p.iscsi.session.empty());
    CHECK(p.iscsi.portal.empty());
  }
}

TEST_CASE("ALUA target port group and relative port from a VPD 0x83 page") {
  // As LIO answers (lab capture): NAA, T10, relative port 1, group 2, then
  // a SCSI name string.
  const std::string page =
      vpd({0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x50, 0xa1, 0xb2, 0xc3, 0xd4,
           0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x51, 0x95, 0x00, 0x04,
           0x00, 0x00, 0x00, 0x02, 0x01, 0x06, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00});
  const sanwatch::AluaPort a = sanwatch::alua_port_from_vpd83(page);
  CHECK(a.rel_port == 1);
  CHECK(a.group == 2);
  // The group id is the last two bytes: 0x1234.
  CHECK(
      sanwatch::alua_port_from_vpd83(vpd({0x01, 0x95, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34})).group ==
      0x1234);
  // Associated with the LUN (0x05), or 8 bytes long: not a target port group.
  CHECK(
      sanwatch::alua_port_from_vpd83(vpd({0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02})).group ==
      -1);
  CHECK(
      sanwatch::alua_port_from_vpd83(vpd({0x01, 0x95, 0x00, 0x08, 0, 0, 0, 2, 0, 0, 0, 0})).group ==
      -1);
  // Truncated, or not page 0x83 at all.
  CHECK(sanwatch::alua_port_from_vpd83(vpd({0x01, 0x95, 0x00, 0x04, 0x00, 0x00})).group == -1);
  std::string pg80 = page;
  pg80[1] = static_cast<char>(0x80);
  CHECK(sanwatch::alua_port_from_vpd83(pg80).group == -1);
  CHECK(sanwatch::alua_port_from_vpd83("").group == -1);
}

TEST_CASE("plain: NVMe and SAS disks are paths without maps; virtio is not a path") {
  const Topology t = load("plain");
  CHECK(t.maps.empty());
  CHECK(path_names(t) == std::vector<std::string>{"nvme0n1", "sda"});

  const PathInfo& nvme = path(t, "nvme0n1");
  CHECK(nvme.id == sanwatch::DevId{259, 0});
  CHECK(nvme.transport == "nvme");
  CHECK(nvme.host == "nvme0");
  CHECK(nvme.hctl.empty());
  CHECK(nvme.scsi_state == "live");
  CHECK(nvme.vendor.empty());
  CHECK(nvme.model == "SAMSUNG MZVL21T0HCLR-00B00");
  CHECK(nvme.array() == "SAMSUNG MZVL21T0HCLR-00B00");
  CHECK(nvme.rev == "GXA7601Q");
  CHECK(nvme.wwid == "eui.002538b111b22c33");
  CHECK(nvme.target_port.empty());  // PCIe: the address is a PCI slot, not a port
  CHECK(nvme.array_id == "nqn.1994-11.com.samsung:nvme:PM9A1:M.2:S676NF0R912345");
  CHECK(nvme.alua_state.empty());

  const PathInfo& sas = path(t, "sda");
  CHECK(sas.hctl == "0:0:0:0");
  CHECK(sas.host == "host0");
  CHECK(sas.transport == "sas");
  CHECK(sas.target_port == "0x5000c500a1b2c3d5");
  CHECK(sas.array_id == "0x500605b00d1e2f3f");
  CHECK(sas.array() == "SEAGATE ST1200MM0099");
  CHECK(sas.rev == "ST31");
  CHECK(sas.wwid == "naa.5000c500a1b2c3d7");
  CHECK(sas.alua_state.empty());
  CHECK(t.map_of("sda") == nullptr);
}

TEST_CASE("nvmeof: a native multipath head is a map over its hidden paths") {
  const Topology t = load("nvmeof");
  const std::string nqn =
      "nqn.1992-08.com.netapp:sn.4f1a2b3c5d6e11eeb7d8d039ea5b3c7d:subsystem.oracle";
  REQUIRE(t.maps.size() == 1);
  const MapInfo& m = t.maps[0];
  CHECK(m.name == "nvme0n1");
  CHECK(m.dm_name.empty());
  CHECK(m.label() == "nvme0n1");
  CHECK(m.id == sanwatch::DevId{259, 1});  // between its paths' 259:0 and 259:2, as on 6.1
  CHECK(m.wwid == "uuid.5a1c3e0b-7f1d-4c7e-9a55-3b2d8c41f0aa");
  CHECK(m.paths == std::vector<std::string>{"nvme0c0n1", "nvme0c1n1"});
  CHECK(path_names(t) == m.paths);  // the head itself is not a path

  const PathInfo& a = path(t, "nvme0c0n1");
  CHECK(a.host == "nvme0");
  CHECK(a.id == sanwatch::DevId{259, 0});  // hidden: no sysfs dev, from /proc/diskstats
  CHECK(a.alua_state == "optimized");
  CHECK(a.ana_group == "1");
  CHECK(a.nvme_transport == "tcp");
  CHECK(a.scsi_state == "live");  // the controller's state
  // The target side only: src_addr is the host's, and absent while connecting.
  CHECK(a.target_port == "traddr=192.168.10.21,trsvcid=4420");
  CHECK(a.array_id == nqn);
  CHECK(a.array() == "NetApp ONTAP Controller");
  CHECK(a.transport == "nvme");
  CHECK(a.wwid == m.wwid);
  const PathInfo& b = path(t, "nvme0c1n1");
  CHECK(b.host == "nvme1");
  CHECK(b.alua_state == "non-optimized");
  CHECK(b.id == sanwatch::DevId{259, 2});
  CHECK(b.ana_group == "2");
  CHECK(b.target_port == "traddr=192.168.20.21,trsvcid=4420");
  CHECK(t.map_named("nvme0n1") == &m);
  CHECK(t.map_named("nvme0c1n1") == nullptr);
  CHECK(t.map_of("nvme0c1n1") == &m);
}

TEST_CASE("map lookup by path") {
  const Topology t = load("fc-3par");
  REQUIRE(t.map_of("sdg") != nullptr);
  CHECK(t.map_of("sdg")->label() == "oradata");
  CHECK(t.map_of("sdg")->name == "dm-1");
  CHECK(t.map_of("dm-0") == nullptr);
  CHECK(t.map_of("sdz") == nullptr);
}

TEST_CASE("broken: missing attributes are empty, vanished devices are skipped") {
  const Topology t = load("broken");
  // dm-1 has no uuid and dm-2 is a kpartx partition: neither is a map.
  REQUIRE(labels(t) == std::vector<std::string>{"mpatha"});
  CHECK(t.maps[0].paths == std::vector<std::string>{"sda", "sdb"});  // sdc's link dangles
  CHECK(path_names(t) == std::vector<std::string>{"sda", "sdb", "sdd"});
  CHECK(t.map_of("sdc") == nullptr);

  const PathInfo& sda = path(t, "sda");  // rport attributes and fc_host gone
  CHECK(sda.transport == "fc");
  CHECK(sda.target_port.empty());
  CHECK(sda.array_id.empty());
  CHECK(sda.host_port.empty());
  CHECK(sda.array() == "3PARdata VV");
  CHECK(sda.serial == "1619C4F");  // padded with spaces before and NULs after

  const PathInfo& sdb = path(t, "sdb");  // unreadable vendor and wwid, dangling model
  CHECK(sdb.hctl == "1:0:0:2");
  CHECK(sdb.vendor.empty());
  CHECK(sdb.model.empty());
  CHECK(sdb.rev.empty());
  CHECK(sdb.scsi_state.empty());
  CHECK(sdb.alua_state.empty());
  CHECK(sdb.array().empty());
  CHECK(sdb.wwid == "naa.60002ac0000000000000000b00019c4f");
  CHECK(sdb.serial.empty());  // no vpd_pg80

  const PathInfo& sdd = path(t, "sdd");  // VPD page truncated mid-designator
  CHECK(sdd.wwid.empty());
  CHECK(sdd.serial.empty());  // page 0x80 shorter than its header says
  CHECK(sdd.scsi_state == "running");
  CHECK(t.map_of("sdd") == nullptr);
}

TEST_CASE("stacked: a dm device under a map is a path with the identity of its disk") {
  const Topology t = load("stacked");
  REQUIRE(labels(t) == std::vector<std::string>{"mpatha", "mpathb"});
  const MapInfo& a = t.maps[0];  // sorted by label
  CHECK(a.name == "dm-2");
  CHECK(a.paths == std::vector<std::string>{"dm-0", "dm-1"});
  CHECK(t.map_of("dm-1") == &a);
  CHECK(t.map_of("sdb") == nullptr);  // below the path, not a path of the map

  // dm-delay over sdb: dm's table and status name it 254:1; it reaches
  // sdb's H:C:T:L, LUN and state.
  const PathInfo& b = path(t, "dm-1");
  CHECK(b.name == "dm-1");
  CHECK(b.id == sanwatch::DevId{254, 1});
  CHECK(b.lower == "sdb");
  CHECK(b.hctl == "3:0:0:0");
  CHECK(b.host == "host3");
  CHECK(b.array() == "Linux scsi_debug");
  CHECK(b.wwid == "naa.33333330000007d0");
  CHECK(b.scsi_state == "running");
  CHECK(path(t, "dm-0").hctl == "2:0:0:0");
  CHECK(path(t, "dm-0").lower == "sda");
  CHECK(path(t, "sdb").lower.empty());  // the disk itself is still listed as a disk
  CHECK(path(t, "sdb").id == sanwatch::DevId{8, 16});

  // Two dm levels down to one disk: still that disk's identity.
  const PathInfo& up = path(t, "dm-4");
  CHECK(up.lower == "sde");
  CHECK(up.hctl == "3:0:0:3");
  CHECK(up.wwid == "naa.33333330000007d3");
  // Over two disks no identity is its own, but dm's numbers still match.
  const PathInfo& cat = path(t, "dm-3");
  CHECK(cat.id == sanwatch::DevId{254, 3});
  CHECK(cat.lower.empty());
  CHECK(cat.hctl.empty());
  CHECK(cat.wwid.empty());
  // Stacked devices that are nobody's path stay out.
  CHECK(t.paths.count("dm-5") == 0);
  CHECK(t.map_of("dm-5") == nullptr);
}

TEST_CASE("basic: paths are found without device links") {
  const Topology t = load("basic");
  REQUIRE(labels(t) == std::vector<std::string>{"mpatha"});
  CHECK(t.maps[0].wwid == "360002ac0000000000000000b00019c4f");
  CHECK(t.maps[0].paths == std::vector<std::string>{"sda", "sdb"});
  CHECK(path(t, "sda").hctl == "0:0:0:0");
  CHECK(path(t, "sdb").host == "host1");
  CHECK(path(t, "sdb").transport.empty());
}

TEST_CASE("a root without sys/block is an error") {
  auto t = sanwatch::read_topology(SysfsBlock(kHosts + "does-not-exist"));
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message().find("does-not-exist") != std::string::npos);
}

TEST_CASE("VPD 0x83: each designator type is formatted like the kernel's wwid") {
  using sanwatch::wwid_from_vpd83;
  CHECK(wwid_from_vpd83(page({naa("60002ac0000000000000001a0001c4f1")})) ==
        "naa.60002ac0000000000000001a0001c4f1");
  // scsi_debug: an 8-byte locally assigned NAA.
  CHECK(wwid_from_vpd83(page({naa("33333330000007d0")})) == "naa.33333330000007d0");
  CHECK(wwid_from_vpd83(page({des(1, 0x02, from_hex("002538b111b22c33"))})) ==
        "eui.002538b111b22c33");
  CHECK(wwid_from_vpd83(page({des(1, 0x02, from_hex("0123456789abcdef01020304"))})) ==
        "eui.0123456789abcdef01020304");
  CHECK(wwid_from_vpd83(page({des(2, 0x01, "ATA     QEMU HARDDISK   QM00001  ")})) ==
        "t10.ATA     QEMU HARDDISK   QM00001");
  CHECK(wwid_from_vpd83(page({des(2, 0x01, std::string("AB\x01\xff", 4))})) == "t10.AB\\001\\377");
  CHECK(wwid_from_vpd83(page({des(3, 0x08, std::string("iqn.2000-01.x:lun7\0\0", 20))})) ==
        "iqn.2000-01.x:lun7");
}

TEST_CASE("VPD 0x83: the kernel's preference order and association filter") {
  using sanwatch::wwid_from_vpd83;
  const std::string naa6 = naa("600a09803830416b372b4d686f355671");
  const std::string naa5 = naa("5000c500a1b2c3d7");
  const std::string eui16 = des(1, 0x02, from_hex("0123456789abcdef0123456789abcdef"));
  const std::string t10 = des(2, 0x01, "NETAPP  LUN C-Mode");
  CHECK(wwid_from_vpd83(page({t10, naa6})) == "naa.600a09803830416b372b4d686f355671");
  CHECK(wwid_from_vpd83(page({naa6, t10})) == "naa.600a09803830416b372b4d686f355671");
  CHECK(wwid_from_vpd83(page({naa6, eui16})) == "naa.600a09803830416b372b4d686f355671");
  CHECK(wwid_from_vpd83(page({naa5, eui16})) == "eui.0123456789abcdef0123456789abcdef");
  CHECK(wwid_from_vpd83(page({naa5, naa6})) == "naa.600a09803830416b372b4d686f355671");
  // A SCSI name string for the LUN beats everything...
  const std::string lun_name = des(3, 0x08, std::string("naa.600A0980\0\0\0\0", 16));
  CHECK(wwid_from_vpd83(page({naa6, lun_name})) == "naa.600A0980");
  // ...but designators of the target port or device are not the LUN's.
  const std::string port_name = des(0x53, 0x98, std::string("iqn.x,t,0x1\0", 12));
  const std::string device_naa = des(1, 0xa3, from_hex("600a09803830416b372b4d686f355600"));
  CHECK(wwid_from_vpd83(page({naa5, port_name, device_naa})) == "naa.5000c500a1b2c3d7");
  CHECK(wwid_from_vpd83(page({des(1, 0x94, from_hex("00000001"))})).empty());
}

TEST_CASE("VPD 0x83: malformed pages give an empty wwid") {
  using sanwatch::wwid_from_vpd83;
  const std::string naa6 = naa("600a09803830416b372b4d686f355671");
  CHECK(wwid_from_vpd83("").empty());
  CHECK(wwid_from_vpd83(std::string("\0\x83\0", 3)).empty());
  CHECK(wwid_from_vpd83(page({})).empty());
  CHECK(wwid_from_vpd83(page({des(1, 0x03, "")})).empty());  // zero-length designator
  std::string cut = page({naa6});
  cut.resize(cut.size() - 3);
  CHECK(wwid_from_vpd83(cut).empty());  // file shorter than its header says
  std::string over = page({naa6});
  over[3] = 8;  // header length ends inside the designator
  CHECK(wwid_from_vpd83(over).empty());
  std::string trailing = page({naa6}) + des(3, 0x08, "naa.junk past the page end");
  CHECK(wwid_from_vpd83(trailing) == "naa.600a09803830416b372b4d686f355671");
}

TEST_CASE("VPD 0x80: the serial without its padding") {
  using sanwatch::serial_from_vpd80;
  CHECK(serial_from_vpd80(pg80("80Ak7+Mho5Vq")) == "80Ak7+Mho5Vq");
  CHECK(serial_from_vpd80(pg80("      1619C4F")) == "1619C4F");  // right-aligned
  CHECK(serial_from_vpd80(pg80(std::string("QM00001\0\0\0", 10))) == "QM00001");
  CHECK(serial_from_vpd80(pg80(std::string("\0 AB12 \0junk", 12))) == "AB12");  // a C string
  CHECK(serial_from_vpd80(pg80("A\x01\xff")) == "A\\001\\377");  // as the kernel's %pE
  CHECK(serial_from_vpd80(pg80("SN1") + "trailing bytes past the page") == "SN1");
  // sysfs gives the whole page; a 4 KiB one is as valid as a short one.
  CHECK(serial_from_vpd80(pg80(std::string(4000, ' ') + "X")) == "X");
}

TEST_CASE("VPD 0x80: malformed pages give an empty serial") {
  using sanwatch::serial_from_vpd80;
  CHECK(serial_from_vpd80("").empty());
  CHECK(serial_from_vpd80(std::string("\0\x80\0", 3)).empty());  // no room for the length
  CHECK(serial_from_vpd80(pg80("")).empty());
  CHECK(serial_from_vpd80(pg80("    ")).empty());
  std::string other = pg80("SN1");
  other[1] = char(0x83);  // another page in the file
  CHECK(serial_from_vpd80(other).empty());
  std::string cut = pg80("1619C4F");
  cut.resize(cut.size() - 2);  // shorter than its header says
  CHECK(serial_from_vpd80(cut).empty());
}

TEST_CASE("INQUIRY strings lose their padding") {
  CHECK(sanwatch::trim_id_string("3PARdata") == "3PARdata");
  CHECK(sanwatch::trim_id_string("NETAPP  ") == "NETAPP");
  CHECK(sanwatch::trim_id_string("VV              ") == "VV");
  CHECK(sanwatch::trim_id_string(std::string(" LUN C-Mode \0\0", 14)) == "LUN C-Mode");
  CHECK(sanwatch::trim_id_string("    ").empty());
}
