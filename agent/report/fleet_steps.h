// SPDX-License-Identifier: Apache-2.0
// The pieces fleet_report.cpp assembles the report from: targets as rows
// with their array key, per-step maxima over a set of rows (arrays,
// coverage), timelines, latency compliance over steps and the incidents
// found in the down steps. Pure; internal to agent/report.
#pragma once

#include <compare>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "report/fleet_plan.h"
#include "report/fleet_series.h"
#include "report/options.h"
#include "report/spans.h"

namespace sanwatch {

// An array's identity across hosts: the pair the contract keys on.
struct ArrayKey {
  std::string array, array_id;
  auto operator<=>(const ArrayKey&) const = default;
  // "<array> <array_id>" ("(unknown array)" without a name), as the
  // ledger's --by array names its rows.
  std::string display() const;
};

// One target of one agent that was measured (or down) in the period.
struct FleetRow {
  TargetKey key;
  const TargetSteps* t = nullptr;
  const DeviceSteps* dev = nullptr;  // its I/O counters, if any
  std::string array, array_id;
  const std::vector<std::int64_t>* measured = nullptr;  // per step (zeros if absent)
  const std::vector<std::int64_t>* down = nullptr;
  // A LUN: a map or a plain device (not a path or port).
  bool lun() const { return key.target_type != "path" && key.target_type != "port"; }
  std::string name() const { return key.instance + ":" + key.target; }  // unique in the fleet
  std::string label(const char* name) const;                            // of its identity
};

// The rows point into the FleetData and into the context itself: it stays
// where it was made.
struct FleetCtx {
  FleetCtx(const FleetData& d, const ReportOptions& o, const FleetParams& p);
  FleetCtx(const FleetCtx&) = delete;
  FleetCtx& operator=(const FleetCtx&) = delete;

  const FleetData& d;
  const ReportOptions& o;
  const FleetParams& p;
  StepGrid g;
  std::vector<std::int64_t> zeros;
  std::vector<FleetRow> rows;  // in (instance, target, type) order
};

std::int64_t total(const std::vector<std::int64_t>& steps);
// Per step, the largest value of the rows' `field`.
std::vector<std::int64_t> step_max(const FleetCtx& c, const std::vector<const FleetRow*>& rows,
                                   const std::vector<std::int64_t>* FleetRow::*field);
// Runs of steps with 0 in `measured`, as spans of time.
Spans gap_spans(const FleetCtx& c, const std::vector<std::int64_t>& measured);

// An array per step: down and measured = max over its LUNs × hosts;
// `wide` = the second largest host's down (down on two hosts at once,
// assuming their down time within a step overlaps).
struct FleetArraySteps {
  std::vector<std::int64_t> measured, down, wide;
};
FleetArraySteps array_steps(const FleetCtx& c, const std::vector<const FleetRow*>& members);

// Segments over the period: per step the worst state any member reached,
// ok when measured without another state, `unmeasured` when no member was
// measured.
nlohmann::json fleet_timeline(const FleetCtx& c, const std::vector<const FleetRow*>& members);
// The latency entry of docs/ledger.md for the members' devices together,
// with steps in place of minutes.
nlohmann::json fleet_latency(const FleetCtx& c, const std::vector<const FleetRow*>& members,
                             std::size_t slo);

// Consecutive steps of one target with down time.
struct FleetIncident {
  const FleetRow* row = nullptr;
  std::size_t first = 0, last = 0;  // steps
  std::int64_t down_ms = 0;
  std::set<std::string> hosts;  // with an overlapping incident on the same array (LUNs only)
};
// In start order; `hosts` filled.
std::vector<FleetIncident> find_incidents(const FleetCtx& c);
nlohmann::json incident_json(const FleetCtx& c, const FleetIncident& i);

}  // namespace sanwatch
