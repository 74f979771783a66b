// SPDX-License-Identifier: Apache-2.0
// Everything the agent reports goes out as one JSON object per line on
// stderr (journald keeps each line as a record): state changes, and log
// messages. Sinks (metrics, alerting) subscribe to the state events.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "detect/baseline_event.h"
#include "detect/state_change.h"

namespace sanwatch {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };
LogLevel parse_log_level(const std::string& s);

class EventLog {
 public:
  using Sink = std::function<void(const StateChange&)>;
  // Gets the state changes of one Batch at once (or each alone, outside one).
  using BatchSink = std::function<void(std::span<const StateChange>)>;

  explicit EventLog(std::FILE* out = stderr) : out_(out) {}
  void set_level(LogLevel l) { level_ = l; }
  bool enabled(LogLevel l) const { return l >= level_; }
  void subscribe(Sink s) { sinks_.push_back(std::move(s)); }
  void subscribe_batch(BatchSink s) { batch_sinks_.push_back(std::move(s)); }
  using BaselineSink = std::function<void(const BaselineEvent&)>;
  void subscribe_baseline(BaselineSink s) { baseline_sinks_.push_back(std::move(s)); }

  // While a Batch lives, the lines its thread logs are held back; when the
  // outermost Batch ends, the sinks get its state events all together and
  // then every line is written in one go. Changes with one cause (a path
  // failed, its map degraded) so wake the alert worker once, go out in one
  // POST, and the worker starts before the lines are formatted and written.
  // mono_ns stays the moment each event was made. Batches nest; open them on
  // the event-loop thread, which alone calls state().
  class Batch {
   public:
    explicit Batch(EventLog& log) : log_(log) {
      if (log_.batch_depth_++ == 0) log_.batch_owner_ = std::this_thread::get_id();
    }
    ~Batch() {
      if (--log_.batch_depth_ == 0) log_.end_batch();
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    EventLog& log_;
  };

  // Announces a state change of a target: stamps it with the time now,
  // writes its line and hands it to the sinks. Returns it as announced.
  StateChange state(TargetIdentity target, Transition t);
  // Announces a baseline change (detect/baseline.h) the same way: stamped,
  // written as an {"event":"baseline"} line, handed to the baseline sinks.
  BaselineEvent baseline(BaselineEvent e);
  void log(LogLevel level, const std::string& msg, nlohmann::ordered_json fields = {});
  // A notice that is not a state change (an ALUA access state changed, the
  // priority group carrying a map's I/O changed): {"ts", "mono_ns",
  // "event": name, fields...}, written whatever the log level.
  void event(const std::string& name, const nlohmann::ordered_json& fields);
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
  void write_held(std::span<const nlohmann::ordered_json> lines);
  bool holding() const { return batch_owner_.load() == std::this_thread::get_id(); }
  void deliver(std::span<const StateChange> events);
  void end_batch();

  std::FILE* out_;
  LogLevel level_ = LogLevel::kInfo;
  std::vector<Sink> sinks_;
  std::vector<BatchSink> batch_sinks_;
  std::vector<BaselineSink> baseline_sinks_;
  int batch_depth_ = 0;  // owner thread only
  // The thread whose Batch is open; other threads' lines are written at once.
  std::atomic<std::thread::id> batch_owner_{};
  std::vector<nlohmann::ordered_json> held_;  // lines of the open Batch, in order
  std::vector<StateChange> held_states_;      // its state changes, in order
  std::mutex mu_;
};

}  // namespace sanwatch
