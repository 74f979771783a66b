// SPDX-License-Identifier: Apache-2.0
// The ledger inside `sanwatch run`: the writer thread, the recorder fed from
// state changes and from the once-a-second snapshot, and the check that the
// ledger does not live on the SAN it watches.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detect/baseline.h"
#include "detect/config.h"
#include "detect/event_log.h"
#include "detect/target_snapshot.h"
#include "exporters/metrics_snapshot.h"
#include "ledger/ledger_writer.h"
#include "ledger/recorder.h"

namespace sanwatch {

// The watched multipath map or path among `below` (the devices a filesystem
// lives on, top first), if any: its label.
std::optional<std::string> watched_below(const std::vector<std::string>& below,
                                         const std::vector<TargetSnapshot>& targets);

class AgentLedger {
 public:
  // Starts the writer (which opens the file on its own thread) and writes
  // the start row; subscribes the recorder to state changes.
  static std::unique_ptr<AgentLedger> start(const Config& cfg, EventLog& log);
  // Whether the ledger's filesystem sits on one of these (watched multipath
  // maps and paths); logged loudly and exported when it does.
  void check_placement(const std::vector<TargetSnapshot>& targets, const std::string& root);
  // The recorder's sample, then the baseline: history from the writer
  // thread, evaluation (changes announced through the event log).
  void sample(const std::vector<TargetSnapshot>& targets);
  // Clean stop: incidents and minutes as they stand, the stop row, then up
  // to `grace` for the writer to commit.
  void stop(const std::vector<TargetSnapshot>& targets, std::chrono::milliseconds grace);
  LedgerStatus status() const;
  // Empty while the baseline is off.
  std::vector<BaselineStatus> baseline_status() const;

 private:
  AgentLedger(const Config& cfg, EventLog& log);
  EventLog& log_;
  std::string path_;
  std::unique_ptr<LedgerWriter> writer_;
  std::unique_ptr<LedgerRecorder> recorder_;
  std::unique_ptr<BaselineTracker> tracker_;  // [baseline] enabled
  std::deque<BaselineHour> hours_in_;         // from the writer, not yet given to the tracker
  bool on_watched_ = false;
};

}  // namespace sanwatch
