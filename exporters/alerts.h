// SPDX-License-Identifier: Apache-2.0
// Alert sinks fed by the agent's state-change events: Alertmanager (API v2)
// and an exec hook. Delivery happens on worker threads; on_event() never
// blocks the event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "detect/config.h"
#include "detect/event_log.h"

namespace sanwatch {

struct SinkStats {
  std::string sink;  // "alertmanager:<url>" or "exec"
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;   // attempts that failed (each retry counts)
  std::uint64_t dropped = 0;  // alerts lost because the queue overflowed
  std::uint64_t queued = 0;   // waiting now
  // Alertmanager: 1 when its last health check or POST got through, 0 when
  // not, -1 before the first (and for the exec hook, which has none).
  int up = -1;
};

class AlertDispatcher {
 public:
  virtual ~AlertDispatcher() = default;
  // State events as EventLog::state() produced them, in order, handed over
  // together: the worker wakes once and one POST carries them all (a path
  // failed and its map degraded). Thread: event loop.
  virtual void on_events(std::span<const StateChange> events) = 0;
  void on_event(const StateChange& event) { on_events({&event, 1}); }
  // A baseline change (detect/baseline.h): the Alertmanager sink fires or
  // resolves SanwatchLatencyAboveBaseline (warning). The exec hook runs for
  // state events only. Thread: event loop.
  virtual void on_baseline(const BaselineEvent& event) { (void)event; }
  // New [alerts] settings after a reload. Thread: event loop.
  virtual void reconfigure(const AlertSettings& settings) = 0;
  // Thread-safe; for /metrics.
  virtual std::vector<SinkStats> stats() const = 0;
};

// Sinks per the settings (none configured is valid: events are ignored).
// Diagnostics (an unreachable Alertmanager, a hook killed at its timeout)
// go to `log`.
std::unique_ptr<AlertDispatcher> make_alert_dispatcher(const AlertSettings& settings,
                                                       EventLog& log);

}  // namespace sanwatch
