// SPDX-License-Identifier: Apache-2.0
// Reads the running agent's view (states and when they last changed) from
// its /metrics, so `sanwatch paths` can show it during an incident; parsing
// is pure, fetching uses libcurl.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sanwatch {

struct AgentState {
  std::string state;
  double since = 0;  // unix seconds of the last change, 0 if unknown
};

// target label -> state, from Prometheus text exposition.
std::map<std::string, AgentState> parse_agent_states(std::string_view metrics_text);
Result<std::string> http_get(const std::string& url, long timeout_ms);

}  // namespace sanwatch
