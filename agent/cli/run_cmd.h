// SPDX-License-Identifier: Apache-2.0
// `sanwatch run` (the agent) and `sanwatch check-config`.
#pragma once

#include <string>

namespace sanwatch {

struct RunOptions {
  std::string config_path;  // empty: embedded default
  bool verbose = false;
  std::string root = "/";
  unsigned inflight_slots = 0;  // testing: initial in-flight slots (0: sized for the host)
};

// Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad configuration.
int run_agent(const RunOptions& o);
int check_config(const std::string& path);

}  // namespace sanwatch
