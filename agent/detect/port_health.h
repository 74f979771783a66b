// SPDX-License-Identifier: Apache-2.0
// Blame by array target port: when every path through one port (an array
// controller port) is unhealthy, the port, not the paths, is the cause.
// Pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace sanwatch {

struct PathHealthInput {
  std::string path;         // sdb
  std::string array;        // "3PARdata VV"
  std::string target_port;  // FC WWPN, iSCSI target+portal, ...
  Health state = Health::kOk;
};

struct PortHealth {
  std::string target_port;
  std::string array;
  std::vector<std::string> paths;      // every path through the port
  std::vector<std::string> unhealthy;  // those in slow/stalled/failed/flapping/gone
  bool degraded() const { return !paths.empty() && unhealthy.size() == paths.size(); }
  std::string reason() const;
};

// Ports by target_port; paths without a known port are left out.
std::map<std::string, PortHealth> port_health(const std::vector<PathHealthInput>& paths);

}  // namespace sanwatch
