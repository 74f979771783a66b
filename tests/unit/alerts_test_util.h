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
#include <string>
#include <thread>

#include "detect/event_log.h"
#include "exporters/alert_model.h"

namespace alerts_test {

using namespace std::chrono_literals;
using nlohmann::ordered_json;
using sanwatch::AlertContext;

inline ordered_json event(const std::string& target, const std::string& type,
                          const std::string& from, const std::string& to,
                          const std::string& ts = "2026-11-23T15:43:42.123456Z",
                          ordered_json extra = ordered_json::object()) {
  ordered_json j{{"ts", ts},
                 {"mono_ns", 123456789},
                 {"event", "state"},
                 {"target", target},
                 {"target_type", type},
                 {"from", from},
                 {"to", to},
                 {"reason", "it happened"},
                 {"ios", 12},
                 {"slow_ios", 3},
                 {"max_latency_s", 0.6123456},
                 {"inflight_oldest_s", 0.75},
                 {"errors", 0},
                 {"canary_latency_s", 0.0},
                 {"canary_overdue_s", 0.0},
                 {"canary_errors", 0},
                 {"device", "7:3"}};
  j.update(extra);
  return j;
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
