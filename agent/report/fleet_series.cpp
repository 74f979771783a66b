// SPDX-License-Identifier: Apache-2.0
#include "report/fleet_series.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/timeline.h"

namespace sanwatch {
namespace {

std::string label(const PromLabels& l, const char* name) {
  const auto it = l.find(name);
  return it == l.end() ? std::string() : it->second;
}

// How many of the array identity labels are known.
int known_array_labels(const PromLabels& l) {
  return !label(l, "array").empty() + !label(l, "array_id").empty();
}

Result<PromAnswer> parse(const PromRequest& r, std::string_view body) {
  auto a = r.what == FleetWhat::kInfo ? parse_prom_series(body) : parse_prom_answer(body);
  if (!a) return Error{0, fmt::format("{} (asked {} {})", a.error().context, r.path, r.promql)};
  return a;
}

}  // namespace

StepCounter::StepCounter(const StepGrid& g, double scale, bool capped)
    : v_(g.steps() + 1, 0), scale_(scale), capped_(capped) {}

void StepCounter::add(const StepGrid& g, std::size_t k, double value) {
  if (!std::isfinite(value) || value < 0 || value * scale_ > 9e18 || k >= v_.size()) return;
  const auto v = static_cast<std::int64_t>(std::llround(value * scale_));
  if (last_ && k <= last_->first) return;
  if (!last_ && (k == 0 || (capped_ && v > g.at(k) - g.from_ms + g.step_ms))) {
    last_ = {k, v};  // before the period, or a counter older than it: a base only
    return;
  }
  const std::size_t after = last_ ? last_->first : 0;
  const std::int64_t delta = !last_ ? v : v >= last_->second ? v - last_->second : v;
  last_ = {k, v};
  fill(g, after, k, delta);
}

void StepCounter::fill(const StepGrid& g, std::size_t after, std::size_t k, std::int64_t delta) {
  if (!capped_) {
    v_[k] += delta;
    return;
  }
  std::int64_t rest = delta + carry_;
  for (std::size_t j = k; j > after && rest > 0; --j) {
    const std::int64_t put = std::min(rest, std::max<std::int64_t>(0, g.length(j) - v_[j]));
    v_[j] += put;
    rest -= put;
  }
  carry_ = std::min(rest, g.step_ms);
}

std::int64_t StepCounter::total() const {
  std::int64_t t = 0;
  for (std::int64_t x : v_) t += x;
  return t;
}

Status FleetData::add(const PromRequest& r, std::string_view body) {
  auto a = parse(r, body);
  if (!a) return a.error();
  switch (r.what) {
    case FleetWhat::kInfo:
      return add_info(*a);
    case FleetWhat::kStates:
      add_states(*a);
      return {};
    default:
      return add_counter(r, *a);
  }
}

Status FleetData::add_info(const PromAnswer& a) {
  for (const PromSeries& s : a.series) {
    TargetKey key{label(s.labels, "instance"), label(s.labels, "target"),
                  label(s.labels, "target_type")};
    if (key.target.empty()) continue;
    PromLabels id = s.labels;
    id.erase("__name__");
    TargetSteps& t = targets_[key];
    // A device whose identity changed within the period: the one that
    // knows most about its array.
    if (t.identity.empty() || known_array_labels(id) > known_array_labels(t.identity))
      t.identity = std::move(id);
  }
  return {};
}

void FleetData::add_states(const PromAnswer& a) {
  for (const PromSeries& s : a.series) {
    TargetKey key{label(s.labels, "instance"), label(s.labels, "target"),
                  label(s.labels, "target_type")};
    if (key.target.empty()) continue;
    TargetSteps& t = targets_[key];
    t.worst.resize(grid_.steps() + 1, 0);
    const int sev = severity(label(s.labels, "state"));
    for (const PromSample& x : s.samples) {
      const auto k = grid_.index_of(x.ts_ms);
      if (k && *k > 0 && x.value > 0)
        t.worst[*k] = static_cast<std::uint8_t>(std::max<int>(t.worst[*k], sev));
    }
  }
}

Status FleetData::add_counter(const PromRequest& r, const PromAnswer& a) {
  const bool time = r.what == FleetWhat::kMeasured || r.what == FleetWhat::kDown;
  std::map<std::pair<std::string, std::string>, const PromLabels*> seen;
  for (const PromSeries& s : a.series) {
    const std::string inst = label(s.labels, "instance");
    const std::string name = label(s.labels, time ? "target" : "device");
    if (name.empty()) continue;
    std::optional<StepCounter>* c = nullptr;
    if (time) {
      TargetSteps& t = targets_[{inst, name, label(s.labels, "target_type")}];
      c = r.what == FleetWhat::kMeasured ? &t.measured : &t.down;
    } else {
      DeviceSteps& d = devices_[{inst, name}];
      d.over.resize(slos_);
      if (r.what == FleetWhat::kOver && r.slo >= slos_) continue;
      c = r.what == FleetWhat::kIos ? &d.ios : &d.over[r.slo];
      if (r.what == FleetWhat::kOver) {
        seen_.resize(slos_, false);
        seen_[r.slo] = true;
      }
    }
    const auto key = std::pair(inst, name + "/" + label(s.labels, "target_type"));
    if (!seen.emplace(key, &s.labels).second)
      return Error{0, fmt::format("two series for {} {} on instance {} in the answer to {} (e.g. "
                                  "two jobs scrape the same agent): narrow --selector",
                                  time ? "target" : "device", name, inst, r.promql)};
    if (!*c) c->emplace(grid_, time ? 1000.0 : 1.0, time);
    for (const PromSample& x : s.samples)
      if (const auto k = grid_.index_of(x.ts_ms)) (*c)->add(grid_, *k, x.value);
  }
  return {};
}

}  // namespace sanwatch
