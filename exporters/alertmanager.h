// Alertmanager (API v2) push.
//
// Two layers, so the interesting part is testable without sockets or threads:
//  - pure: state event -> alerts (alert_for, transition_alerts), the set of
//    firing alerts (AlertBook) and the bounded per-URL queue (AlertQueue);
//  - AlertmanagerSink: one worker thread driving libcurl's multi interface,
//    one persistent easy handle (and so one kept-alive connection) per URL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alerts.h"
#include "config.h"
#include "event_log.h"

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
std::optional<Alert> alert_for(const nlohmann::ordered_json& event, const std::string& state,
                               const AlertContext& ctx);

// A transition X -> Y without history: the alert for X resolved at the
// event's ts (when X != ok), then the alert for Y firing (when Y != ok).
std::vector<Alert> transition_alerts(const nlohmann::ordered_json& event, const AlertContext& ctx);

// The request body of POST /api/v2/alerts.
nlohmann::json alerts_body(const std::vector<Alert>& alerts);

// Firing alerts, one per target at most. Resolving uses the alert as it was
// sent (same labels and startsAt) rather than one rebuilt from the newer
// event, whose identity fields may have changed meanwhile.
class AlertBook {
 public:
  // Alerts to send for a state event, resolve first.
  std::vector<Alert> apply(const nlohmann::ordered_json& event, const AlertContext& ctx);
  // New static labels or instance: every firing alert whose labels change is
  // resolved at `now_ts` and fires again under the new labels with its
  // original startsAt.
  std::vector<Alert> relabel(const AlertContext& ctx, const std::string& now_ts);
  std::vector<Alert> firing() const;
  bool is_firing(const Alert& a) const;
  std::size_t size() const { return firing_.size(); }

 private:
  struct Entry {
    Alert alert;
    nlohmann::ordered_json event;  // the event that raised it, to rebuild labels
  };
  std::map<std::string, Entry> firing_;  // "type/target" -> its alert
};

// Bounded FIFO of alerts for one URL. The front `in_flight()` entries are
// in the request on the wire. On overflow one entry is evicted, preferring
// what costs nothing or least: a firing alert that is still firing (the
// re-send after recovery carries it), then the oldest resolved or superseded
// one (a later entry has the same labels), then the oldest.
class AlertQueue {
 public:
  explicit AlertQueue(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}
  using FiringPred = std::function<bool(const Alert&)>;

  // Returns how many entries were evicted to make room (0 or 1).
  std::size_t push(Alert a, const FiringPred& still_firing);
  // Returns how many entries were evicted to fit the new capacity.
  std::size_t set_capacity(std::size_t capacity, const FiringPred& still_firing);
  // Marks up to `max` front entries in flight and returns them.
  std::vector<Alert> begin_batch(std::size_t max);
  // The request ended: on success (or a permanent rejection) the in-flight
  // entries leave the queue; returns how many did.
  std::size_t finish_batch(bool remove);
  std::size_t size() const { return q_.size(); }
  std::size_t in_flight() const { return in_flight_; }
  bool empty() const { return q_.empty(); }
  const std::deque<Alert>& entries() const { return q_; }

 private:
  std::size_t victim(const FiringPred& still_firing) const;
  void evict(std::size_t i);

  std::size_t capacity_;
  std::size_t in_flight_ = 0;
  std::deque<Alert> q_;
};

// Delivery to every configured URL. on_events() and reconfigure() only hand
// over to the worker thread (and wake it); stats() is thread-safe.
class AlertmanagerSink {
 public:
  AlertmanagerSink(const AlertSettings& settings, EventLog& log);
  ~AlertmanagerSink();
  AlertmanagerSink(const AlertmanagerSink&) = delete;
  AlertmanagerSink& operator=(const AlertmanagerSink&) = delete;

  // State events (others are skipped), all queued before the worker wakes.
  void on_events(std::span<const nlohmann::ordered_json> events);
  void reconfigure(const AlertSettings& settings);
  // One entry per configured URL ("alertmanager:<url>").
  std::vector<SinkStats> stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sanwatch
