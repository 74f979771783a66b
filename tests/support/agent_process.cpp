// SPDX-License-Identifier: Apache-2.0
#include "agent_process.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace sanwatch::test {

using Stream = ChildProcess::Stream;

std::uint64_t mono_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

AgentProcess::AgentProcess(const std::string& toml, std::vector<std::string> extra)
    : AgentProcess(toml, std::move(extra), {}) {}

AgentProcess::AgentProcess(const std::string& toml, std::vector<std::string> extra,
                           std::vector<std::string> wrapper) {
  char tmpl[] = "/tmp/sanwatch-agent-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  config_path_ = dir_ + "/sanwatch.toml";
  rewrite_config(toml);
  std::vector<std::string> argv = std::move(wrapper);
  for (const char* a : {SANWATCH_BIN, "run", "--config"}) argv.emplace_back(a);
  argv.push_back(config_path_);
  argv.insert(argv.end(), extra.begin(), extra.end());
  proc_ = std::make_unique<ChildProcess>(argv);
  if (!wait_log("ready", std::chrono::seconds(20)))
    throw std::runtime_error("agent did not become ready: " + proc_->captured(Stream::kStderr));
}

AgentProcess::~AgentProcess() {
  if (proc_ && proc_->running()) stop(std::chrono::seconds(5));
  proc_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

// Each agent keeps its evidence ledger in its own temp directory unless the
// test configures one: never the host's /var/lib/sanwatch.
void AgentProcess::rewrite_config(const std::string& toml) {
  std::ofstream f(config_path_);
  f << toml;
  if (toml.find("[ledger]") == std::string::npos)
    f << "\n[ledger]\npath = \"" << ledger_path() << "\"\n";
}

std::optional<nlohmann::json> AgentProcess::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto line = proc_->read_line(Stream::kStderr, left);
    if (!line) return std::nullopt;
    auto j = nlohmann::json::parse(*line, nullptr, false);
    if (j.is_discarded()) continue;  // not ours (e.g. a libbpf line)
    events_.push_back(j);
    return j;
  }
}

std::optional<nlohmann::json> AgentProcess::wait_for(
    const std::function<bool(const nlohmann::json&)>& match, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = next(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!j) return std::nullopt;
    if (match(*j)) return j;
  }
  return std::nullopt;
}

std::optional<nlohmann::json> AgentProcess::wait_state(const std::string& target,
                                                       const std::string& to,
                                                       std::chrono::milliseconds timeout) {
  return wait_for(
      [&](const nlohmann::json& j) {
        // value(): operator[] of a const json must not meet a missing key.
        return j.value("event", "") == "state" &&
               (target.empty() || j.value("target", "") == target) && j.value("to", "") == to;
      },
      timeout);
}

std::optional<nlohmann::json> AgentProcess::wait_log(const std::string& needle,
                                                     std::chrono::milliseconds timeout) {
  return wait_for(
      [&](const nlohmann::json& j) {
        return j.contains("msg") && j["msg"].get<std::string>().find(needle) != std::string::npos;
      },
      timeout);
}

std::vector<nlohmann::json> AgentProcess::states(const std::string& target) const {
  std::vector<nlohmann::json> out;
  for (const auto& j : events_)
    if (j.value("event", "") == "state" && j.value("target", "") == target) out.push_back(j);
  return out;
}

std::string AgentProcess::metrics_address() const {
  for (const auto& ev : events_)
    if (ev.value("msg", "") == "ready" && ev.contains("metrics"))
      return ev["metrics"].get<std::string>();
  throw std::runtime_error("no metrics address in the agent's ready line");
}

std::optional<std::string> AgentProcess::scrape() const {
  auto r = run_command({"curl", "-sf", "--max-time", "3", metrics_url()}, std::chrono::seconds(5));
  if (!r.ok()) return std::nullopt;
  return std::move(r.out);
}

std::optional<int> AgentProcess::stop(std::chrono::milliseconds timeout) {
  proc_->send_signal(SIGTERM);
  return proc_->wait(timeout);
}

}  // namespace sanwatch::test
