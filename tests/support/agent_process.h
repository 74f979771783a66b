// SPDX-License-Identifier: Apache-2.0
// Runs `sanwatch run` with a config written to a temp file and reads its
// JSON event lines from stderr.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

namespace sanwatch::test {

class AgentProcess {
 public:
  // Starts the agent and waits (bounded) for its "ready" line; throws on
  // failure with the agent's stderr in the message.
  explicit AgentProcess(const std::string& config_toml, std::vector<std::string> extra_args = {});
  // The same, run through `wrapper`: a command that ends by exec'ing the
  // arguments appended to it (e.g. unshare, or a shell that sets up first).
  AgentProcess(const std::string& config_toml, std::vector<std::string> extra_args,
               std::vector<std::string> wrapper);
  ~AgentProcess();

  // Next state event for `target` entering `to` (any target if empty),
  // skipping others; nullopt on timeout.
  std::optional<nlohmann::json> wait_state(const std::string& target, const std::string& to,
                                           std::chrono::milliseconds timeout);
  // Next event line whose "msg" contains needle.
  std::optional<nlohmann::json> wait_log(const std::string& needle,
                                         std::chrono::milliseconds timeout);
  // Next event line `match` accepts (e.g. {"event":"baseline"} lines).
  std::optional<nlohmann::json> wait_line(const std::function<bool(const nlohmann::json&)>& match,
                                          std::chrono::milliseconds timeout) {
    return wait_for(match, timeout);
  }
  // Every JSON line read so far.
  const std::vector<nlohmann::json>& events() const { return events_; }
  std::vector<nlohmann::json> states(const std::string& target) const;
  // The metrics server's host:port, from the "metrics" field of the ready
  // line; throws when the agent serves no metrics.
  std::string metrics_address() const;
  // http://<metrics_address()>/metrics
  std::string metrics_url() const { return "http://" + metrics_address() + "/metrics"; }
  // One GET of /metrics (curl, 3 s at most): the body, nullopt when it fails.
  // metrics_text.h's metric_sample() reads a series out of it.
  std::optional<std::string> scrape() const;

  void rewrite_config(const std::string& toml);
  const std::string& config_path() const { return config_path_; }
  // The ledger a config without [ledger] gets (in the agent's temp dir).
  std::string ledger_path() const { return dir_ + "/ledger.db"; }
  const std::string& dir() const { return dir_; }
  ChildProcess& process() { return *proc_; }
  pid_t pid() const { return proc_->pid(); }
  // SIGTERM and wait; returns the exit code.
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  std::optional<nlohmann::json> next(std::chrono::milliseconds timeout);
  // Reads lines until one matches, or the timeout.
  std::optional<nlohmann::json> wait_for(const std::function<bool(const nlohmann::json&)>& match,
                                         std::chrono::milliseconds timeout);

  std::string dir_;
  std::string config_path_;
  std::unique_ptr<ChildProcess> proc_;
  std::vector<nlohmann::json> events_;
};

// CLOCK_MONOTONIC now, in ns: the clock of the agent's mono_ns field.
std::uint64_t mono_now_ns();

}  // namespace sanwatch::test
