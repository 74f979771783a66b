// SPDX-License-Identifier: Apache-2.0
#include "host/block_devices.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/parse.h"

namespace fs = std::filesystem;

namespace sanwatch {
namespace {

std::optional<std::string> read_line(const std::string& p) {
  std::ifstream f(p);
  if (!f) return std::nullopt;
  std::string s;
  std::getline(f, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  s.erase(0, s.find_first_not_of(' '));
  return s;
}

std::uint64_t read_u64(const std::string& p, std::uint64_t dflt = 0) {
  auto s = read_line(p);
  if (!s) return dflt;
  return parse_uint<std::uint64_t>(*s).value_or(dflt);
}

// mq/<n>/nr_tags for each hardware queue; the scheduler may hand out more
// requests (nr_requests) than there are driver tags.
void read_geometry(const std::string& dir, BlockDevice& d) {
  std::error_code ec;
  unsigned queues = 0, tags = 0;
  for (const auto& e : fs::directory_iterator(dir + "/mq", ec)) {
    ++queues;
    tags = std::max<unsigned>(tags, read_u64(e.path().string() + "/nr_tags"));
  }
  d.nr_hw_queues = queues;
  if (queues) tags = std::max<unsigned>(tags, read_u64(dir + "/queue/nr_requests"));
  d.tags_per_queue = tags;
}

}  // namespace

std::optional<DevId> parse_dev_id(const std::string& s) {
  unsigned maj = 0, min = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%u:%u%c", &maj, &min, &extra) != 2) return std::nullopt;
  return DevId{maj, min};
}

std::map<std::string, DevId> parse_diskstats(std::string_view text) {
  std::map<std::string, DevId> out;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const std::string line(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    unsigned maj = 0, min = 0;
    char name[64] = {};
    // %63s: kernel disk names are at most 31 characters (DISK_NAME_LEN 32).
    if (std::sscanf(line.c_str(), "%u %u %63s", &maj, &min, name) == 3 && maj < 4096 &&
        min < (1u << 20))
      out.emplace(name, DevId{maj, min});
  }
  return out;
}

std::string SysfsBlock::path(const std::string& rel) const {
  if (root_.empty() || root_ == "/") return "/" + rel;
  return root_ + "/" + rel;
}

Result<BlockDevice> SysfsBlock::disk(const std::string& name) const {
  std::optional<std::map<std::string, DevId>> hidden_devs;
  return disk(name, hidden_devs);
}

Result<BlockDevice> SysfsBlock::disk(
    const std::string& name, std::optional<std::map<std::string, DevId>>& hidden_devs) const {
  std::error_code ec;
  std::string dir = path("sys/block/" + name);
  // An empty disk (an unbound loop device, a drive without media) is never
  // watched, and hosts can have hundreds: two reads, no details.
  const std::uint64_t sectors = read_u64(dir + "/size");
  // sys/block/NAME is a symlink into sys/devices: resolve it once, not in
  // every one of the dozen attribute reads below (the agent rescans often).
  if (sectors)
    if (auto target = fs::read_symlink(dir, ec); !ec && target.is_relative())
      dir = path("sys/block/" + target.string());  // ".." is the kernel's to resolve
  auto dev = read_line(dir + "/dev");
  const bool hidden = !dev && read_line(dir + "/hidden") == "1";
  if (hidden) {
    if (!hidden_devs) {
      std::ifstream f(path("proc/diskstats"));
      hidden_devs = parse_diskstats(std::string(std::istreambuf_iterator<char>(f), {}));
    }
    if (auto it = hidden_devs->find(name); it != hidden_devs->end()) dev = it->second.str();
  }
  if (!dev) return Error{ENOENT, "no block device " + name + " (" + dir + "/dev)"};
  auto id = parse_dev_id(*dev);
  if (!id) return Error{EINVAL, "bad dev number '" + *dev + "' in " + dir + "/dev"};
  BlockDevice d;
  d.name = name;
  d.id = *id;
  d.hidden = hidden;
  d.size_bytes = sectors * 512;
  if (name.starts_with("dm-")) {  // keeps a map's name while it has no table
    d.dm_name = read_line(dir + "/dm/name").value_or("");
    d.dm_uuid = read_line(dir + "/dm/uuid").value_or("");
  }
  if (d.size_bytes == 0) return d;
  d.logical_block_size = read_u64(dir + "/queue/logical_block_size", 512);
  d.loop_backing = read_line(dir + "/loop/backing_file").value_or("");
  d.wwid = d.is_multipath() ? d.dm_uuid.substr(6) : read_line(dir + "/device/wwid").value_or("");
  // NVMe namespaces (heads, paths) carry it on the disk, not the device.
  if (d.wwid.empty() && name.starts_with("nvme")) d.wwid = read_line(dir + "/wwid").value_or("");
  read_geometry(dir, d);
  for (const auto& e : fs::directory_iterator(dir + "/slaves", ec))
    d.slaves.push_back(e.path().filename().string());
  std::sort(d.slaves.begin(), d.slaves.end());
  return d;
}

Result<std::vector<BlockDevice>> SysfsBlock::disks() const {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path("sys/block"), ec))
    names.push_back(e.path().filename().string());
  if (ec) return Error{ec.value(), "cannot list " + path("sys/block")};
  std::sort(names.begin(), names.end());
  std::vector<BlockDevice> out;
  std::optional<std::map<std::string, DevId>> hidden_devs;
  for (const auto& n : names) {
    auto d = disk(n, hidden_devs);
    if (d) out.push_back(std::move(d).value());  // a device vanishing mid-scan is not an error
  }
  return out;
}

std::optional<std::string> SysfsBlock::name_of_dm(const std::string& dm_name) const {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path("sys/block"), ec)) {
    auto n = read_line(e.path().string() + "/dm/name");
    if (n && *n == dm_name) return e.path().filename().string();
  }
  return std::nullopt;
}

Result<std::string> SysfsBlock::name_from_dev_path(const std::string& spec) const {
  const std::string base = fs::path(spec).filename().string();
  if (spec.rfind("/dev/mapper/", 0) == 0) {
    if (auto n = name_of_dm(base)) return *n;
    return Error{ENOENT, "no device-mapper map named " + base};
  }
  // On the real system the node's rdev is the truth (udev symlinks like
  // /dev/disk/by-id/...); fixture roots have no device nodes.
  struct stat st {};
  if (root_ == "/" && ::stat(spec.c_str(), &st) == 0) {
    if (!S_ISBLK(st.st_mode)) return Error{ENOTBLK, spec + " is not a block device"};
    std::string link = path("sys/dev/block/" + DevId{major(st.st_rdev), minor(st.st_rdev)}.str());
    std::error_code ec;
    auto target = fs::read_symlink(link, ec);
    if (!ec) return target.filename().string();
  }
  return base;
}

Result<SysfsBlock::Resolved> SysfsBlock::resolve_name(const std::string& spec,
                                                      const std::string& name) const {
  const std::string cls = path("sys/class/block/" + name);
  std::error_code ec;
  if (!fs::exists(cls, ec)) {
    if (auto dm = name_of_dm(name)) return resolve_name(spec, *dm);
    return Error{ENOENT, "unknown device '" + spec + "'"};
  }
  Resolved r;
  r.requested = spec;
  std::string disk_name = name;
  if (fs::exists(cls + "/partition", ec)) {
    // The class entry links into the parent disk's directory.
    auto real = fs::canonical(cls, ec);
    if (ec) return Error{ec.value(), "cannot resolve partition " + cls};
    disk_name = real.parent_path().filename().string();
    r.partition = name;
  }
  auto d = disk(disk_name);
  if (!d) return d.error();
  r.disk = std::move(d).value();
  return r;
}

Result<SysfsBlock::Resolved> SysfsBlock::resolve(const std::string& spec) const {
  if (spec.empty()) return Error{EINVAL, "empty device name"};
  if (auto id = parse_dev_id(spec)) {
    std::error_code ec;
    auto target = fs::read_symlink(path("sys/dev/block/" + id->str()), ec);
    if (!ec) return resolve_name(spec, target.filename().string());
    // A hidden disk's number has no /sys/dev/block link: /proc/diskstats.
    std::ifstream f(path("proc/diskstats"));
    for (const auto& [name, dev] :
         parse_diskstats(std::string(std::istreambuf_iterator<char>(f), {})))
      if (dev == *id) return resolve_name(spec, name);
    return Error{ENOENT, "no block device with number " + spec};
  }
  if (spec.front() == '/') {
    auto n = name_from_dev_path(spec);
    if (!n) return n.error();
    return resolve_name(spec, *n);
  }
  return resolve_name(spec, spec);
}

bool watchable_by_default(const BlockDevice& d, bool include_loop) {
  if (d.name.rfind("ram", 0) == 0 || d.name.rfind("zram", 0) == 0) return false;
  if (d.is_loop()) return include_loop && !d.loop_backing.empty();
  return d.size_bytes > 0;
}

}  // namespace sanwatch
