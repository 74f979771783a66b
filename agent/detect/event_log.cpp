// SPDX-License-Identifier: Apache-2.0
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

StateChange EventLog::state(TargetIdentity target, Transition t) {
  // mono_ns is when the change is announced, not when it was computed:
  // detection lags measured from it include the agent's own work.
  StateChange c{std::move(target), std::move(t), rfc3339_now(), monotonic_ns()};
  const nlohmann::ordered_json j = state_json(c);
  if (holding()) {
    held_.push_back(j);
    held_states_.push_back(c);
  } else {
    write(j);
    deliver({&c, 1});
  }
  return c;
}

BaselineEvent EventLog::baseline(BaselineEvent e) {
  e.ts = rfc3339_now();
  e.mono_ns = monotonic_ns();
  const nlohmann::ordered_json j = baseline_json(e);
  if (holding())
    held_.push_back(j);
  else
    write(j);
  for (auto& s : baseline_sinks_) s(e);
  return e;
}

void EventLog::deliver(std::span<const StateChange> events) {
  for (const auto& ev : events)
    for (auto& s : sinks_) s(ev);
  if (!events.empty())
    for (auto& s : batch_sinks_) s(events);
}

void EventLog::end_batch() {
  batch_owner_ = std::thread::id();
  // A sink may log or announce more: take the lists first.
  const auto held = std::exchange(held_, {});
  const auto states = std::exchange(held_states_, {});
  deliver(states);
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

void EventLog::event(const std::string& name, const nlohmann::ordered_json& fields) {
  nlohmann::ordered_json j{{"ts", rfc3339_now()}, {"mono_ns", monotonic_ns()}, {"event", name}};
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
