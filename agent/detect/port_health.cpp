// SPDX-License-Identifier: Apache-2.0
#include "detect/port_health.h"

#include <fmt/format.h>

namespace sanwatch {

std::string PortHealth::reason() const {
  std::string list;
  for (const auto& p : unhealthy) list += (list.empty() ? "" : ", ") + p;
  return fmt::format("all {} paths through target port {}{} are unhealthy ({})", paths.size(),
                     target_port, array.empty() ? "" : " of " + array, list);
}

std::map<std::string, PortHealth> port_health(const std::vector<PathHealthInput>& paths) {
  std::map<std::string, PortHealth> out;
  for (const auto& p : paths) {
    if (p.target_port.empty()) continue;
    PortHealth& h = out[p.target_port];
    h.target_port = p.target_port;
    if (h.array.empty()) h.array = p.array;
    h.paths.push_back(p.path);
    if (p.state != Health::kOk) h.unhealthy.push_back(p.path);
  }
  return out;
}

}  // namespace sanwatch
