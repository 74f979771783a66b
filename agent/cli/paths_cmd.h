// SPDX-License-Identifier: Apache-2.0
// `sanwatch paths`: works during an incident with or without the agent.
#pragma once

#include <string>

namespace sanwatch {

struct PathsOptions {
  double interval_s = 1;  // latency sample; 0 = no tracing
  bool json = false;
  bool verbose = false;
  std::string agent_url = "http://127.0.0.1:9847/metrics";  // "" = do not ask the agent
  std::string root = "/";
};

int run_paths(const PathsOptions& o);

}  // namespace sanwatch
