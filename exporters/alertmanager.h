// SPDX-License-Identifier: Apache-2.0
// Alertmanager (API v2) push.
//
// Two layers, so the interesting part is testable without sockets or threads:
//  - pure: state event -> alerts (alert_for, transition_alerts), the set of
//    firing alerts (AlertBook) and the bounded per-URL queue (AlertQueue);
//  - AlertmanagerSink: one worker thread driving libcurl's multi interface,
//    one persistent easy handle (and so one kept-alive connection) per URL.
//
// The pure layer lives in alert_model.h and alert_queue.h; this header
// includes both, so users of the sink see the whole API.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "detect/config.h"
#include "detect/event_log.h"
#include "exporters/alert_model.h"
#include "exporters/alert_queue.h"
#include "exporters/alerts.h"

namespace sanwatch {

// Delivery to every configured URL. on_events() and reconfigure() only hand
// over to the worker thread (and wake it); stats() is thread-safe.
class AlertmanagerSink {
 public:
  AlertmanagerSink(const AlertSettings& settings, EventLog& log);
  ~AlertmanagerSink();
  AlertmanagerSink(const AlertmanagerSink&) = delete;
  AlertmanagerSink& operator=(const AlertmanagerSink&) = delete;

  // State events (others are skipped), all queued before the worker wakes.
  void on_events(std::span<const StateChange> events);
  void on_baseline(const BaselineEvent& event);
  void reconfigure(const AlertSettings& settings);
  // One entry per configured URL ("alertmanager:<url>").
  std::vector<SinkStats> stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sanwatch
