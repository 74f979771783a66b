// SPDX-License-Identifier: Apache-2.0
#include "host/device_stack.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>

namespace sanwatch {
namespace fs = std::filesystem;

namespace {

void collect(const fs::path& sys_block, const std::string& name, std::vector<std::string>& out) {
  if (std::find(out.begin(), out.end(), name) != out.end() || out.size() > 256) return;
  out.push_back(name);
  std::error_code ec;
  const fs::path dir = sys_block / name;
  // A partition's directory sits inside its disk's.
  if (fs::exists(dir / "partition", ec)) {
    const fs::path real = fs::canonical(dir, ec);
    if (!ec) collect(sys_block, real.parent_path().filename().string(), out);
  }
  for (const auto& e : fs::directory_iterator(dir / "slaves", ec))
    collect(sys_block, e.path().filename().string(), out);
}

}  // namespace

std::vector<std::string> devices_below(const std::string& root, DevId id) {
  std::vector<std::string> out;
  if (id.major == 0) return out;
  std::error_code ec;
  const fs::path link = fs::path(root) / "sys/dev/block" / id.str();
  const fs::path real = fs::canonical(link, ec);
  if (ec) return out;
  collect(fs::path(root) / "sys/class/block", real.filename().string(), out);
  return out;
}

std::optional<DevId> filesystem_device(const std::string& path) {
  fs::path p = path;
  struct stat st {};
  while (!p.empty()) {
    if (::stat(p.c_str(), &st) == 0) return DevId{major(st.st_dev), minor(st.st_dev)};
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return std::nullopt;
}

}  // namespace sanwatch
