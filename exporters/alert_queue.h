// SPDX-License-Identifier: Apache-2.0
// The state the Alertmanager sink keeps between events, still without
// sockets or threads: the firing alerts (AlertBook) and the bounded per-URL
// queue (AlertQueue).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exporters/alert_model.h"

namespace sanwatch {

// Firing alerts, one per target at most. Resolving uses the alert as it was
// sent (same labels and startsAt) rather than one rebuilt from the newer
// event, whose identity fields may have changed meanwhile.
class AlertBook {
 public:
  // Alerts to send for a state event, resolve first.
  std::vector<Alert> apply(const StateChange& event, const AlertContext& ctx);
  // Alerts to send for a baseline event: SanwatchLatencyAboveBaseline fires
  // on degraded, and resolves (as it was sent) on normal.
  std::vector<Alert> apply_baseline(const BaselineEvent& event, const AlertContext& ctx);
  // New static labels or instance: every firing alert whose labels change is
  // resolved at `now_ts` and fires again under the new labels with its
  // original startsAt.
  std::vector<Alert> relabel(const AlertContext& ctx, const std::string& now_ts);
  std::vector<Alert> firing() const;
  bool is_firing(const Alert& a) const;
  std::size_t size() const { return firing_.size() + baseline_.size(); }

 private:
  struct Entry {
    Alert alert;
    StateChange event;  // the event that raised it, to rebuild labels
  };
  std::map<std::string, Entry> firing_;  // "type/target" -> its alert
  struct BaselineEntry {
    Alert alert;
    BaselineEvent event;
  };
  std::map<std::string, BaselineEntry> baseline_;  // "type/target" -> its drift alert
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

}  // namespace sanwatch
