// SPDX-License-Identifier: Apache-2.0
// The pure event -> alert mapping: labels and annotations from an event's
// fields, alert names and severities, the POST body.
#include "exporters/alert_model.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "base/clock.h"
#include "exporters/alert_queue.h"

namespace sanwatch {
namespace {

using ojson = nlohmann::ordered_json;

// Event fields that are not evidence: they become labels, startsAt, or the
// summary, or mean nothing to a person reading the alert.
constexpr std::array<std::string_view, 8> kMetaFields = {
    "ts", "mono_ns", "event", "target", "target_type", "from", "to", "reason"};
// Identity fields that become labels when present (routing and silencing
// match on them: silence one array, route one map to its DBA team).
constexpr std::array<std::string_view, 5> kIdentityLabels = {"wwid", "array", "target_port",
                                                             "dm_name", "map"};

std::string camel(std::string_view s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '_' || c == '-' || c == ' ') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

// Annotations are strings; 6 significant digits are plenty for seconds.
std::string text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  return v.dump();
}

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& names, std::string_view k) {
  return std::find(names.begin(), names.end(), k) != names.end();
}

}  // namespace

namespace detail {

// "Device loop3 on db01", "Path sdb of mpatha on db01".
std::string subject(const StateChange& ev, const AlertContext& ctx) {
  const TargetIdentity& t = ev.target;
  const std::string noun = t.type == "map" ? "Multipath map" : camel(t.type);
  std::string s = noun + " " + t.label;
  if (t.type == "path" && !t.map.empty())
    s += " of " + t.map;
  else if (!t.dm_name.empty() && t.dm_name != t.label)
    s += " (" + t.dm_name + ")";
  return s + " on " + ctx.instance;
}

Alert resolved(Alert a, const std::string& ends_at, const std::string& summary) {
  a.ends_at = ends_at;
  if (a.starts_at.empty()) a.starts_at = ends_at;
  if (!summary.empty()) a.annotations["summary"] = summary;
  return a;
}

}  // namespace detail

using detail::subject;

std::string Alert::fingerprint() const {
  std::string fp;
  for (const auto& [k, v] : labels) fp += k + '\x1f' + v + '\x1e';
  return fp;
}

AlertContext alert_context(const AlertSettings& s) {
  AlertContext c{s.instance, s.labels};
  if (c.instance.empty()) {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) == 0) c.instance = host.data();
    if (c.instance.empty()) c.instance = "localhost";
  }
  return c;
}

std::string alert_name(std::string_view target_type, std::string_view state) {
  return "Sanwatch" + camel(target_type) + camel(state);
}

std::string alert_severity(std::string_view state) {
  for (std::string_view s : {"stalled", "failed", "gone", "down"})
    if (state == s) return "critical";
  return "warning";
}

std::optional<Alert> alert_for(const StateChange& ev, const std::string& state,
                               const AlertContext& ctx) {
  const std::string& type = ev.target.type;
  const std::string& target = ev.target.label;
  if (state.empty() || state == "ok" || type.empty() || target.empty()) return std::nullopt;
  Alert a;
  // Static labels first: the computed ones win a name clash, like
  // Prometheus' external labels never override a series' own.
  for (const auto& [k, v] : ctx.labels) a.labels[k] = v;
  // Every field of the event as the log line has it: identity fields become
  // labels, the evidence annotations.
  const ojson fields = state_json(ev);
  for (const auto& [k, v] : fields.items()) {
    if (one_of(kIdentityLabels, k)) {
      if (const std::string s = text(v); !s.empty()) a.labels[k] = s;
    } else if (k == "device") {
      a.annotations["major_minor"] = text(v);  // "device" is the label of device targets
    } else if (!one_of(kMetaFields, k)) {
      a.annotations[k] = text(v);
    }
  }
  a.labels["alertname"] = alert_name(type, state);
  a.labels["severity"] = alert_severity(state);
  a.labels["instance"] = ctx.instance;
  a.labels[type] = target;
  a.annotations["reason"] = ev.transition.reason;
  a.annotations["summary"] = subject(ev, ctx) + " is " + state + ": " + ev.transition.reason;
  a.starts_at = ev.ts;
  return a;
}

std::vector<Alert> transition_alerts(const StateChange& ev, const AlertContext& ctx) {
  AlertBook fresh;
  return fresh.apply(ev, ctx);
}

std::optional<Alert> baseline_alert(const BaselineEvent& ev, const AlertContext& ctx) {
  const TargetIdentity& t = ev.target;
  if (!ev.degraded || t.type.empty() || t.label.empty()) return std::nullopt;
  Alert a;
  for (const auto& [k, v] : ctx.labels) a.labels[k] = v;
  const ojson fields = baseline_json(ev);
  for (const auto& [k, v] : fields.items()) {
    if (one_of(kIdentityLabels, k)) {
      if (const std::string s = text(v); !s.empty()) a.labels[k] = s;
    } else if (!one_of(kMetaFields, k) && k != "state" && k != "restored") {
      a.annotations[k] = text(v);
    }
  }
  a.labels["alertname"] = kBaselineAlertName;
  a.labels["severity"] = "warning";
  a.labels["instance"] = ctx.instance;
  a.labels[t.type] = t.label;
  a.annotations["reason"] = ev.reason;
  StateChange who;
  who.target = t;
  a.annotations["summary"] =
      subject(who, ctx) + " is slower than its baseline (same hour in earlier weeks): " + ev.reason;
  a.starts_at = ev.restored ? rfc3339_ms(ev.since_ms) : ev.ts;
  return a;
}

nlohmann::json alerts_body(const std::vector<Alert>& alerts) {
  auto body = nlohmann::json::array();
  for (const auto& a : alerts) {
    nlohmann::json j{{"labels", a.labels}, {"annotations", a.annotations}};
    if (!a.starts_at.empty()) j["startsAt"] = a.starts_at;
    if (!a.ends_at.empty()) j["endsAt"] = a.ends_at;
    body.push_back(std::move(j));
  }
  return body;
}

}  // namespace sanwatch
