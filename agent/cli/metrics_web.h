// SPDX-License-Identifier: Apache-2.0
// metrics.web_config for the commands: loaded with the configuration (at
// start, on SIGHUP and by check-config, so a broken web.yml makes the
// configuration invalid like a broken sanwatch.toml), and the exposure
// warning check-config prints for an endpoint open to the network. What a
// reload applies is run_cmd's apply_web().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "detect/config.h"
#include "exporters/web_setup.h"

namespace sanwatch {

// The configuration with its web.yml read and checked (null web: none set).
struct AgentConfig {
  Config config;
  std::shared_ptr<const WebSetup> web;
};

// The file, or the embedded default when `path` is empty.
Result<AgentConfig> read_agent_config(const std::string& path);

// Is the host of HOST:PORT a loopback address (127.0.0.0/8, ::1, localhost)?
bool is_loopback_listen(const std::string& listen);

// Lines for stderr, each with "warning: ": the web.yml's ignored keys,
// and /metrics listening beyond loopback without TLS or basic auth.
std::vector<std::string> metrics_warnings(const AgentConfig& c);

}  // namespace sanwatch
