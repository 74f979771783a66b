// SPDX-License-Identifier: Apache-2.0
// The fleet's counters per step, from Prometheus answers: for every target
// of every agent (instance), the measured and down milliseconds of each
// step of the grid, the worst state it reached, and its identity (array
// key: array + array_id from sanwatch_device_info). Deltas are taken here,
// from the raw counters' samples at the grid points, so there is no
// increase() extrapolation at the period's edges. Pure.
//
// The delta of a counter between two grid points is its growth, or, when it
// went down (a restart: a counter reset), its new value. A series' first
// sample after the period's start counts from zero (the agent, or the
// target, started then). A delta goes to the step that ends at its sample;
// what exceeds that step's length (scrape and refresh jitter) carries to
// the next step, and a delta that spans steps without samples (a scrape
// gap, a restart) fills them from the latest backwards, one step length
// each: no step ever holds more than its length.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "report/fleet_plan.h"
#include "report/prom_response.h"

namespace sanwatch {

// One target of one agent.
struct TargetKey {
  std::string instance, target, target_type;
  auto operator<=>(const TargetKey&) const = default;
};

// A counter's growth per step (index k = step k; [0] unused).
class StepCounter {
 public:
  // `scale` turns the counter into integers (1000: seconds to ms);
  // `capped`: a step holds at most its length (time counters).
  StepCounter(const StepGrid& g, double scale, bool capped);
  // The counter's sample at grid point k (in time order; others ignored).
  void add(const StepGrid& g, std::size_t k, double value);
  const std::vector<std::int64_t>& steps() const { return v_; }
  std::int64_t total() const;

 private:
  void fill(const StepGrid& g, std::size_t after, std::size_t k, std::int64_t delta);

  std::vector<std::int64_t> v_;
  double scale_;
  bool capped_;
  std::optional<std::pair<std::size_t, std::int64_t>> last_;  // grid point, value
  std::int64_t carry_ = 0;
};

struct TargetSteps {
  PromLabels identity;  // sanwatch_device_info's labels (device, wwid, array, array_id, ...)
  std::optional<StepCounter> measured, down;
  std::vector<std::uint8_t> worst;  // per step: severity of the worst state other than ok
  bool has_worst(std::size_t k) const { return k < worst.size() && worst[k] > 0; }
};

// I/O counters of one device of one agent (latency compliance).
struct DeviceSteps {
  std::optional<StepCounter> ios;
  std::vector<std::optional<StepCounter>> over;  // per --latency-slo
};

class FleetData {
 public:
  FleetData(StepGrid g, std::size_t slos) : grid_(g), slos_(slos) {}
  // Feeds the body answering `r`. Errors: a refused or malformed answer
  // (prom_response.h), or two series for one target (the selector matches
  // more than one job scraping the same agent).
  Status add(const PromRequest& r, std::string_view body);

  const StepGrid& grid() const { return grid_; }
  const std::map<TargetKey, TargetSteps>& targets() const { return targets_; }
  // (instance, device) -> its I/O counters.
  const std::map<std::pair<std::string, std::string>, DeviceSteps>& devices() const {
    return devices_;
  }
  // Thresholds seen per --latency-slo index (false: no agent exports it).
  bool slo_seen(std::size_t i) const { return i < seen_.size() && seen_[i]; }

 private:
  Status add_info(const PromAnswer& a);
  Status add_counter(const PromRequest& r, const PromAnswer& a);
  void add_states(const PromAnswer& a);

  StepGrid grid_;
  std::size_t slos_;
  std::map<TargetKey, TargetSteps> targets_;
  std::map<std::pair<std::string, std::string>, DeviceSteps> devices_;
  std::vector<bool> seen_;
};

}  // namespace sanwatch
