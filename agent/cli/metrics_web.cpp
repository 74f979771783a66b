// SPDX-License-Identifier: Apache-2.0
#include "cli/metrics_web.h"

#include <arpa/inet.h>
#include <fmt/format.h>

namespace sanwatch {

Result<AgentConfig> read_agent_config(const std::string& path) {
  auto cfg = path.empty() ? parse_config(embedded_default_config(), "<embedded default>")
                          : load_config(path);
  if (!cfg) return cfg.error();
  AgentConfig out{std::move(cfg).value(), nullptr};
  if (const std::string& web = out.config.metrics.web_config; !web.empty()) {
    auto w = load_web_setup(web);
    if (!w)
      return Error{w.error().err,
                   fmt::format("{}: metrics.web_config: {}", out.config.source, w.error().context)};
    out.web = std::make_shared<const WebSetup>(std::move(w).value());
  }
  return out;
}

bool is_loopback_listen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // "" and 0.0.0.0 (every address), a host name, another address
}

std::vector<std::string> metrics_warnings(const AgentConfig& c) {
  std::vector<std::string> out;
  if (c.web)
    for (const auto& w : c.web->config.warnings) out.push_back(w);
  const std::string& listen = c.config.metrics.listen;
  const bool guarded = c.web && (c.web->config.has_tls() || c.web->config.has_auth());
  if (!is_loopback_listen(listen) && !guarded)
    out.push_back(fmt::format(
        "warning: metrics.listen = \"{}\" is reachable beyond this host and {}: anyone who can "
        "reach the port reads /metrics (device names, WWIDs, array serials) in clear text; see "
        "\"Locking down /metrics\" in the README",
        listen,
        c.web ? "metrics.web_config sets neither TLS nor basic auth"
              : "metrics.web_config is unset"));
  return out;
}

}  // namespace sanwatch
