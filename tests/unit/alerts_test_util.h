// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the alert sink unit tests (alerts_test.cpp,
// alertmanager_delivery_test.cpp, exec_hook_test.cpp): a state event
// builder, a fixed AlertContext, temp dirs, a file-backed EventLog, polling.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "detect/event_log.h"
#include "exporters/alert_model.h"

namespace alerts_test {

using namespace std::chrono_literals;
using nlohmann::ordered_json;
using sanwatch::AlertContext;

inline sanwatch::Health health(const std::string& name) {
  for (int i = 0; i < sanwatch::kNrHealth; ++i)
    if (sanwatch::health_name(static_cast<sanwatch::Health>(i)) == name)
      return static_cast<sanwatch::Health>(i);
  throw std::invalid_argument("no state " + name);
}

inline sanwatch::TargetIdentity identity(const std::string& target, const std::string& type,
                                         const std::string& device = "7:3") {
  sanwatch::TargetIdentity id;
  id.label = target;
  id.type = type;
  id.device = device;
  return id;
}

// A state event as the agent announces it; `extra` sets identity and
// evidence fields by their JSON names (dm_name, wwid, map, array,
// target_port, last_error, valid_paths).
inline sanwatch::StateChange event(const std::string& target, const std::string& type,
                                   const std::string& from, const std::string& to,
                                   const std::string& ts = "2026-11-23T15:43:42.123456Z",
                                   const ordered_json& extra = ordered_json::object()) {
  sanwatch::StateChange c;
  c.target = identity(target, type);
  c.ts = ts;
  c.mono_ns = 123456789;
  c.transition.from = health(from);
  c.transition.to = health(to);
  c.transition.reason = "it happened";
  sanwatch::Evidence& e = c.transition.evidence;
  e.ios = 12;
  e.slow_ios = 3;
  e.max_latency_s = 0.6123456;
  e.inflight_oldest_s = 0.75;
  for (const auto& [k, v] : extra.items()) {
    if (k == "dm_name")
      c.target.dm_name = v;
    else if (k == "wwid")
      c.target.wwid = v;
    else if (k == "map")
      c.target.map = v;
    else if (k == "array")
      c.target.array = v;
    else if (k == "target_port")
      c.target.target_port = v;
    else if (k == "last_error")
      e.last_error = v;
    else if (k == "valid_paths")
      e.valid_paths = v, e.total_paths = 2;
    else
      throw std::invalid_argument("event(): unknown field " + k);
  }
  return c;
}

inline const AlertContext kCtx{"db01", {{"env", "prod"}, {"instance", "not-this"}}};

// Reads a whole file (the EventLog's, a hook's output).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A temp directory removed at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sanwatch-alerts-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// An EventLog writing to a file the test can read.
struct FileLog {
  TempDir dir;
  std::string path = dir.path + "/log";
  std::FILE* f = std::fopen(path.c_str(), "w");
  sanwatch::EventLog log{f};
  FileLog() { log.set_level(sanwatch::LogLevel::kDebug); }
  ~FileLog() { std::fclose(f); }
  std::string text() const { return slurp(path); }
};

template <typename Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace alerts_test
