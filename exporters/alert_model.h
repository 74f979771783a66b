// SPDX-License-Identifier: Apache-2.0
// The pure event -> alert mapping for Alertmanager (API v2): what one state
// event becomes, as labels, annotations and the request body. No sockets,
// threads or state, so it is testable on its own.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detect/baseline_event.h"
#include "detect/config.h"
#include "detect/state_change.h"

namespace sanwatch {

using AlertLabels = std::map<std::string, std::string>;  // sorted: equal sets compare equal

// One alert as Alertmanager's postableAlert.
struct Alert {
  AlertLabels labels;
  AlertLabels annotations;
  std::string starts_at;  // RFC 3339; empty = omitted (Alertmanager uses the receive time)
  // RFC 3339; empty while firing: Alertmanager then keeps it for its
  // resolve_timeout, which the periodic re-send keeps pushing out.
  std::string ends_at;

  bool resolved() const { return !ends_at.empty(); }
  // Alertmanager identifies an alert by its label set; so do we.
  std::string fingerprint() const;
  bool operator==(const Alert&) const = default;
};

// What every alert carries besides the event's own fields.
struct AlertContext {
  std::string instance;                                     // never empty
  std::vector<std::pair<std::string, std::string>> labels;  // static extra labels
  bool operator==(const AlertContext&) const = default;
};

// settings.instance, or this host's name when that is empty.
AlertContext alert_context(const AlertSettings& settings);

// "Sanwatch" + CamelCase(type) + CamelCase(state): SanwatchDeviceStalled.
std::string alert_name(std::string_view target_type, std::string_view state);
// critical for stalled/failed/gone/down, warning otherwise.
std::string alert_severity(std::string_view state);

// The alert of the event's target being in `state`, firing since the event's
// ts; nullopt for "ok" or an event without target/target_type.
std::optional<Alert> alert_for(const StateChange& event, const std::string& state,
                               const AlertContext& ctx);

// A transition X -> Y without history: the alert for X resolved at the
// event's ts (when X != ok), then the alert for Y firing (when Y != ok).
std::vector<Alert> transition_alerts(const StateChange& event, const AlertContext& ctx);

// SanwatchLatencyAboveBaseline (severity warning) for a LUN whose baseline
// event says degraded, firing since the event (a carried-over episode: since
// it was flagged); nullopt for a `normal` event.
inline constexpr const char* kBaselineAlertName = "SanwatchLatencyAboveBaseline";
std::optional<Alert> baseline_alert(const BaselineEvent& event, const AlertContext& ctx);

// The request body of POST /api/v2/alerts.
nlohmann::json alerts_body(const std::vector<Alert>& alerts);

// Helpers AlertBook (alert_queue.cpp) shares with the mapping; not API.
namespace detail {
// "Device loop3 on db01", "Path sdb of mpatha on db01".
std::string subject(const StateChange& ev, const AlertContext& ctx);
// `a` resolved at `ends_at`, with a new summary unless that is empty.
Alert resolved(Alert a, const std::string& ends_at, const std::string& summary);
}  // namespace detail

}  // namespace sanwatch
