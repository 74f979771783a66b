#include "detect/event_log.h"

#include <utility>

#include "base/clock.h"

namespace sanwatch {

LogLevel parse_log_level(const std::string& s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

nlohmann::ordered_json evidence_json(const Evidence& e) {
  nlohmann::ordered_json j{{"ios", e.ios},
                           {"slow_ios", e.slow_ios},
                           {"max_latency_s", e.max_latency_s},
                           {"inflight_oldest_s", e.inflight_oldest_s},
                           {"errors", e.errors},
                           {"canary_latency_s", e.canary_latency_s},
                           {"canary_overdue_s", e.canary_overdue_s},
                           {"canary_errors", e.canary_errors}};
  if (!e.last_error.empty()) j["last_error"] = e.last_error;
  if (e.total_paths >= 0) {
    j["valid_paths"] = e.valid_paths;
    j["total_paths"] = e.total_paths;
  }
  if (e.path_flaps) j["path_flaps"] = e.path_flaps;
  return j;
}

nlohmann::ordered_json EventLog::state(const std::string& target, const std::string& target_type,
                                       const Transition& t, const nlohmann::ordered_json& extra) {
  // mono_ns is when the change is announced, not when it was computed:
  // detection lags measured from it include the agent's own work.
  nlohmann::ordered_json j{{"ts", rfc3339_now()},        {"mono_ns", monotonic_ns()},
                           {"event", "state"},           {"target", target},
                           {"target_type", target_type}, {"from", health_name(t.from)},
                           {"to", health_name(t.to)},    {"reason", t.reason}};
  j.update(evidence_json(t.evidence));
  if (extra.is_object()) j.update(extra);
  if (holding()) {
    held_.push_back(j);
    ++held_states_;
  } else {
    write(j);
    deliver({&j, 1});
  }
  return j;
}

void EventLog::deliver(std::span<const nlohmann::ordered_json> events) {
  for (const auto& ev : events)
    for (auto& s : sinks_) s(ev);
  if (!events.empty())
    for (auto& s : batch_sinks_) s(events);
}

void EventLog::end_batch() {
  batch_owner_ = std::thread::id();
  // A sink may log or announce more: take the lists first.
  const auto held = std::exchange(held_, {});
  const std::size_t states = std::exchange(held_states_, 0);
  if (states == held.size()) {
    deliver(held);
  } else if (states) {
    std::vector<nlohmann::ordered_json> only;
    for (const auto& j : held)
      if (j.at("event") == "state") only.push_back(j);
    deliver(only);
  }
  write_held(held);
}

void EventLog::log(LogLevel level, const std::string& msg, nlohmann::ordered_json fields) {
  if (level < level_) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  nlohmann::ordered_json j{{"ts", rfc3339_now()},
                           {"mono_ns", monotonic_ns()},
                           {"event", "log"},
                           {"level", kNames[static_cast<int>(level)]},
                           {"msg", msg}};
  if (fields.is_object()) j.update(fields);
  if (holding())
    held_.push_back(std::move(j));
  else
    write(j);
}

void EventLog::write_held(std::span<const nlohmann::ordered_json> lines) {
  std::string out;
  for (const auto& j : lines)
    out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(out.data(), 1, out.size(), out_);
  std::fflush(out_);
}

void EventLog::write(const nlohmann::ordered_json& j) {
  // Replace invalid UTF-8 (device names are bytes) rather than throw.
  const std::string line =
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace sanwatch
