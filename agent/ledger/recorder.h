// SPDX-License-Identifier: Apache-2.0
// Turns what the agent sees into ledger rows, on the event-loop thread:
// coverage (start, alive each minute, stop), every state change, incidents
// (one per maximal period a target was not ok, its impairment apart from its
// detection) and per-target minute rollups. Pure: times and counters come in
// as arguments, rows go out through `push` (the writer's queue).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detect/baseline_event.h"
#include "detect/state_change.h"
#include "detect/target_snapshot.h"
#include "ledger/ledger_row.h"
#include "ledger/minute_book.h"

namespace sanwatch {

struct RunInfo {
  std::string run_id;  // random, names this run's rows
  std::string host, version, kernel, boot_id;
  std::string config_source, config_sha256;
  std::vector<std::uint64_t> latency_slos_ns;
};

// The counters a target's minute rollups are made of.
TargetCounters counters_of(const TargetSnapshot& t);

class LedgerRecorder {
 public:
  using Push = std::function<void(LedgerRow)>;
  LedgerRecorder(RunInfo info, Push push, std::int64_t minute_lag_ms);
  ~LedgerRecorder();

  // Called from sample() with each target's cumulative latency histogram
  // (all ops; targets with histograms only): the baseline's current window.
  using LatencyObserver =
      std::function<void(const TargetSnapshot&, const LatencyHistogram&, std::int64_t wall_ms)>;
  void observe_latency(LatencyObserver f) { latency_ = std::move(f); }

  void start(std::int64_t wall_ms, std::uint64_t mono_ns);
  // An announced state change (from the EventLog's sink).
  void on_state(const StateChange& c);
  // An announced baseline change: a `baseline` row in the events chain.
  void on_baseline(const BaselineEvent& e);
  // Every second or so: the targets as they are (identity, counters, the
  // open impairment), and the clocks.
  void sample(const std::vector<TargetSnapshot>& targets, std::int64_t wall_ms,
              std::uint64_t mono_ns);
  // Clean stop: open incidents and the current minute are written as they
  // stand, then the stop row.
  void stop(const std::vector<TargetSnapshot>& targets, std::int64_t wall_ms,
            std::uint64_t mono_ns);

  const RunInfo& run() const { return info_; }

 private:
  struct Incident;
  struct Book;
  Book& book(const std::string& label);
  std::int64_t wall_of(std::uint64_t mono_ns) const;
  void open_incident(Book& b, const StateChange& c);
  void close_incident(Book& b, std::uint64_t end_mono, const char* closed_by);
  nlohmann::json incident_body(const Book& b, std::uint64_t end_mono, const char* closed_by) const;
  nlohmann::json span_json(const Span& s) const;
  void related(const Book& b, nlohmann::json& body) const;
  void write_minutes(std::int64_t now_ms, bool final);
  void write_book_minutes(const std::string& label, Book& b, std::int64_t now_ms, bool final);
  void restart_minutes(const std::string& label, Book& b, std::int64_t before_ms,
                       std::int64_t after_ms, const TargetCounters& c);
  nlohmann::json minute_identity(const std::string& label) const;
  void emit(std::string chain, std::string kind, std::int64_t ts_ms, std::string target,
            nlohmann::json body);

  RunInfo info_;
  Push push_;
  LatencyObserver latency_;
  std::int64_t lag_ms_;
  std::int64_t offset_ns_ = 0;  // wall - monotonic, from the last sample
  std::int64_t last_alive_minute_ = -1;
  std::uint64_t incidents_ = 0;
  std::map<std::string, std::unique_ptr<Book>> books_;  // by target label
  // What the last sample said of each target: identity and counters, not
  // the histograms a TargetSnapshot carries (copied every second otherwise).
  struct Seen {
    std::string name, target_type, wwid, dm_name, map, array, array_id, target_port, serial;
    TargetCounters counters;
  };
  std::map<std::string, Seen> latest_;  // by label
};

}  // namespace sanwatch
