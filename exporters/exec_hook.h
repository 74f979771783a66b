// SPDX-License-Identifier: Apache-2.0
// The exec hook: a command run for every state event (posix_spawn, no
// shell), with the event JSON on stdin and SANWATCH_* variables in its
// environment. At most exec_max_concurrent run at once; the rest wait in a
// queue bounded by settings.queue (the oldest waiting event is dropped when
// full). Each run is killed (its whole process group) at
// exec_timeout. A run's output (stdout and stderr) is kept up to 4 KiB for
// the log; past that it is drained every 100 ms and dropped, so a hook that
// floods its output costs the agent next to nothing. Everything happens on
// the hook's own thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detect/config.h"
#include "detect/event_log.h"
#include "exporters/alerts.h"

namespace sanwatch {

// The variables a run adds to the agent's environment: SANWATCH_TARGET,
// SANWATCH_TARGET_TYPE, SANWATCH_FROM, SANWATCH_TO, SANWATCH_REASON,
// SANWATCH_EVENT_TS, as "NAME=value" (pure).
std::vector<std::string> hook_environment(const StateChange& event);

class ExecHook {
 public:
  ExecHook(const AlertSettings& settings, EventLog& log);
  // Kills (SIGKILL to the group) and reaps runs still going, bounded.
  ~ExecHook();
  ExecHook(const ExecHook&) = delete;
  ExecHook& operator=(const ExecHook&) = delete;

  // Queues a run; never blocks. Ignored while no command is configured.
  void on_event(const StateChange& event);
  // Applies to runs started from now on; an empty command discards what
  // still waits, runs in progress finish.
  void reconfigure(const AlertSettings& settings);
  // delivered: runs that exited 0; failed: non-zero exit, killed at the
  // timeout, or could not start; dropped: queue overflow.
  SinkStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sanwatch
