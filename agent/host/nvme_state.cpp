// SPDX-License-Identifier: Apache-2.0
#include "host/nvme_state.h"

#include <array>
#include <fstream>

namespace sanwatch {
namespace {

// NVMe base spec 8.20.3 (ANA states) as drivers/nvme/host/multipath.c
// names them in sysfs. Only the first two carry I/O: the kernel's path
// selector skips the others (change = a transition in progress).
constexpr std::array<std::string_view, 2> kUsableAna = {"optimized", "non-optimized"};
constexpr std::array<std::string_view, 3> kUnusableAna = {"inaccessible", "persistent-loss",
                                                          "change"};

bool one_of(std::string_view s, const auto& set) {
  for (auto v : set)
    if (s == v) return true;
  return false;
}

std::optional<std::string> read_line(const std::string& p) {
  std::ifstream f(p);
  std::string s;
  if (!f || !std::getline(f, s)) return std::nullopt;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

NvmePathVerdict judge_nvme_path(std::string_view ana, std::string_view ctrl) {
  NvmePathVerdict v;
  if (ctrl != "live") {
    v.usable = false;
    v.reason = ctrl.empty() ? "controller state unknown" : "controller " + std::string(ctrl);
  } else if (!ana.empty() && one_of(ana, kUnusableAna)) {
    v.usable = false;
    v.reason = "ana_state " + std::string(ana);
  } else if (!ana.empty() && !one_of(ana, kUsableAna)) {
    v.usable = false;
    v.unknown_ana = true;
    v.reason = "unknown ana_state '" + std::string(ana) + "'";
  }
  return v;
}

NvmePathState read_nvme_path_state(const SysfsBlock& sys, const std::string& path_disk) {
  const std::string dir = sys.path("sys/block/" + path_disk);
  NvmePathState s;
  s.ana_state = read_line(dir + "/ana_state");
  s.ctrl_state = read_line(dir + "/device/state");
  return s;
}

}  // namespace sanwatch
