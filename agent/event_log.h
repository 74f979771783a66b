// Everything the agent reports goes out as one JSON object per line on
// stderr (journald keeps each line as a record): state changes, and log
// messages. Sinks (alerting) subscribe to the same objects.
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detector.h"

namespace sanwatch {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };
LogLevel parse_log_level(const std::string& s);

class EventLog {
 public:
  using Sink = std::function<void(const nlohmann::ordered_json&)>;

  explicit EventLog(std::FILE* out = stderr) : out_(out) {}
  void set_level(LogLevel l) { level_ = l; }
  void subscribe(Sink s) { sinks_.push_back(std::move(s)); }

  // A state change of a target; `extra` adds identity fields (dm_name, wwid...).
  nlohmann::ordered_json state(const std::string& target, const std::string& target_type,
                               const Transition& t, const nlohmann::ordered_json& extra = {});
  void log(LogLevel level, const std::string& msg, nlohmann::ordered_json fields = {});
  void info(const std::string& msg, nlohmann::ordered_json f = {}) {
    log(LogLevel::kInfo, msg, std::move(f));
  }
  void warn(const std::string& msg, nlohmann::ordered_json f = {}) {
    log(LogLevel::kWarn, msg, std::move(f));
  }
  void error(const std::string& msg, nlohmann::ordered_json f = {}) {
    log(LogLevel::kError, msg, std::move(f));
  }
  void debug(const std::string& msg, nlohmann::ordered_json f = {}) {
    log(LogLevel::kDebug, msg, std::move(f));
  }

 private:
  void write(const nlohmann::ordered_json& j);

  std::FILE* out_;
  LogLevel level_ = LogLevel::kInfo;
  std::vector<Sink> sinks_;
  std::mutex mu_;
};

// Fields of a Transition's evidence, as JSON numbers.
nlohmann::ordered_json evidence_json(const Evidence& e);

}  // namespace sanwatch
