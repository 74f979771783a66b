// SPDX-License-Identifier: Apache-2.0
#include "detect/baseline.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "base/clock.h"
#include "base/duration.h"

namespace sanwatch {
namespace {

using Counts = LatencyHistogram::Counts;
using Sparse = std::vector<std::pair<std::uint32_t, std::uint64_t>>;

std::int64_t ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::int64_t floor_to(std::int64_t t, std::int64_t unit) { return t - ((t % unit) + unit) % unit; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string ms_text(double ns) { return human_duration(ns / 1e9); }

}  // namespace

HourSummary summarize(const LatencyHistogram& h) {
  HourSummary s;
  s.ios = h.total();
  if (!s.ios) return s;
  s.p50_ns = static_cast<std::int64_t>(h.quantile_ns(0.5) + 0.5);
  s.p99_ns = static_cast<std::int64_t>(h.quantile_ns(0.99) + 0.5);
  return s;
}

struct BaselineTracker::Reading {
  double p50 = 0, p99 = 0;
  std::uint64_t ios = 0;
  BaselineValue base;
  double r50() const { return p50 / base.p50_ns; }
  double r99() const { return p99 / base.p99_ns; }
  double worst() const { return std::max(r50(), r99()); }
};

// The window is kept as 60 slots of window/60: sparse once closed, their
// sum dense, so a LUN costs a few KiB however busy it is.
struct BaselineTracker::Lun {
  TargetIdentity id;
  bool observed = false;
  std::int64_t first_ms = 0;  // first observation of this run
  Counts last{};              // cumulative, as last observed (copied without allocating)
  std::int64_t open_start = 0;
  Counts open{};  // the slot being filled
  std::deque<std::pair<std::int64_t, Sparse>> closed;
  Counts closed_sum{};
  std::vector<std::pair<std::int64_t, HourSummary>> hours;  // by hour_ms
  // The condition.
  bool degraded = false, restored = false;
  std::int64_t above_since = -1, below_since = -1, flagged_ms = 0, last_data_ms = -1;
  double peak = 0;
  std::optional<Reading> last_reading;  // of the last evaluation
};

BaselineTracker::BaselineTracker(const BaselineSettings& s)
    : s_(s),
      window_ms_(ms(s.window)),
      hold_ms_(ms(s.hold)),
      period_ms_(std::max<std::int64_t>(ms(s.period), kBaselineHourMs)),
      slot_ms_(std::max<std::int64_t>(ms(s.window) / 60, 1)),
      periods_(static_cast<int>(ms(s.learn) / period_ms_)) {}

BaselineTracker::~BaselineTracker() = default;

BaselineTracker::Lun& BaselineTracker::lun(const std::string& label) {
  auto& l = luns_[label];
  if (!l) l = std::make_unique<Lun>();
  return *l;
}

void BaselineTracker::add_hour(const BaselineHour& h) {
  auto& hours = lun(h.target).hours;
  auto it = std::lower_bound(hours.begin(), hours.end(), h.hour_ms,
                             [](const auto& e, std::int64_t t) { return e.first < t; });
  if (it != hours.end() && it->first == h.hour_ms)
    it->second = h.summary;
  else
    hours.insert(it, {h.hour_ms, h.summary});
}

void BaselineTracker::restore(const BaselineRestore& r) {
  Lun& l = lun(r.target);
  if (l.degraded) return;
  if (l.id.label.empty()) l.id = TargetIdentity{r.target, r.target_type};
  l.degraded = l.restored = true;
  l.flagged_ms = r.since_ms;
  l.peak = r.peak_ratio;
}

void BaselineTracker::observe(const TargetIdentity& id, const LatencyHistogram& cumulative,
                              std::int64_t wall_ms) {
  if (id.type != "map" && id.type != "device") return;
  Lun& l = lun(id.label);
  l.id = id;
  if (!l.observed) {
    l.observed = true;
    l.first_ms = wall_ms;
    l.open_start = floor_to(wall_ms, slot_ms_);
    l.last = cumulative.counts();
    return;
  }
  roll(l, wall_ms);
  // Counters that went backwards restarted (the device was watched again).
  const auto& now = cumulative.counts();
  for (std::size_t i = 0; i < kNrBuckets; ++i)
    l.open[i] += now[i] >= l.last[i] ? now[i] - l.last[i] : now[i];
  l.last = now;
}

void BaselineTracker::roll(Lun& l, std::int64_t wall_ms) const {
  if (!l.observed) return;
  const std::int64_t slot = floor_to(wall_ms, slot_ms_);
  if (slot > l.open_start) {
    Sparse sp;
    for (std::uint32_t i = 0; i < kNrBuckets; ++i)
      if (l.open[i]) {
        sp.emplace_back(i, l.open[i]);
        l.closed_sum[i] += l.open[i];
      }
    if (!sp.empty()) l.closed.emplace_back(l.open_start, std::move(sp));
    l.open = {};
    l.open_start = slot;
  }
  while (!l.closed.empty() && l.closed.front().first < wall_ms - window_ms_) {
    for (const auto& [i, n] : l.closed.front().second) l.closed_sum[i] -= n;
    l.closed.pop_front();
  }
}

std::optional<BaselineValue> BaselineTracker::baseline_of(const Lun& l,
                                                          std::int64_t wall_ms) const {
  const std::int64_t hour = floor_to(wall_ms - window_ms_ / 2, kBaselineHourMs);
  std::vector<double> p50, p99;
  for (int k = 1; k <= periods_; ++k) {
    const std::int64_t h = hour - k * period_ms_;
    auto it = std::lower_bound(l.hours.begin(), l.hours.end(), h,
                               [](const auto& e, std::int64_t t) { return e.first < t; });
    if (it == l.hours.end() || it->first != h || it->second.ios < s_.min_ios) continue;
    p50.push_back(static_cast<double>(it->second.p50_ns));
    p99.push_back(static_cast<double>(it->second.p99_ns));
  }
  if (static_cast<int>(p50.size()) < kBaselineMinPeriods) return std::nullopt;
  BaselineValue v{median(p50), median(p99), static_cast<int>(p50.size())};
  if (v.p50_ns <= 0 || v.p99_ns <= 0) return std::nullopt;
  return v;
}

std::optional<BaselineValue> BaselineTracker::baseline(const std::string& target,
                                                       std::int64_t wall_ms) const {
  auto it = luns_.find(target);
  if (it == luns_.end()) return std::nullopt;
  return baseline_of(*it->second, wall_ms);
}

std::optional<BaselineTracker::Reading> BaselineTracker::reading(const Lun& l,
                                                                 std::int64_t wall_ms) const {
  if (!l.observed || wall_ms - l.first_ms < window_ms_) return std::nullopt;
  Counts sum = l.closed_sum;
  for (std::size_t i = 0; i < kNrBuckets; ++i) sum[i] += l.open[i];
  const LatencyHistogram h(sum);
  Reading r;
  r.ios = h.total();
  if (r.ios < s_.min_ios) return std::nullopt;
  r.p50 = h.quantile_ns(0.5);
  r.p99 = h.quantile_ns(0.99);
  auto b = baseline_of(l, wall_ms);
  if (!b) return std::nullopt;
  r.base = *b;
  return r;
}

std::vector<BaselineEvent> BaselineTracker::evaluate(std::int64_t wall_ms) {
  std::vector<BaselineEvent> out;
  if (wall_ms < next_eval_ms_) return out;
  next_eval_ms_ = floor_to(wall_ms, slot_ms_) + slot_ms_;
  for (auto& [label, l] : luns_) {
    roll(*l, wall_ms);
    decide(*l, wall_ms, out);
    prune(*l, wall_ms);
  }
  return out;
}

void BaselineTracker::prune(Lun& l, std::int64_t wall_ms) const {
  const std::int64_t keep = wall_ms - window_ms_ - periods_ * period_ms_ - 2 * kBaselineHourMs;
  auto it = std::lower_bound(l.hours.begin(), l.hours.end(), keep,
                             [](const auto& e, std::int64_t t) { return e.first < t; });
  l.hours.erase(l.hours.begin(), it);
}

BaselineEvent BaselineTracker::event(const Lun& l, std::int64_t wall_ms, std::string reason) const {
  BaselineEvent e;
  e.target = l.id;
  e.degraded = l.degraded;
  e.reason = std::move(reason);
  e.wall_ms = wall_ms;
  e.since_ms = l.degraded && !l.restored ? l.above_since : l.flagged_ms;
  if (const auto& r = l.last_reading) {
    e.p50_ns = r->p50;
    e.p99_ns = r->p99;
    e.baseline_p50_ns = r->base.p50_ns;
    e.baseline_p99_ns = r->base.p99_ns;
    e.ratio_p50 = r->r50();
    e.ratio_p99 = r->r99();
    e.window_ios = r->ios;
    e.periods = r->base.periods;
  }
  e.peak_ratio = l.peak;
  e.factor = s_.factor;
  e.window_ms = window_ms_;
  e.hold_ms = hold_ms_;
  return e;
}

void BaselineTracker::flag(Lun& l, std::int64_t wall_ms, std::vector<BaselineEvent>& out) {
  const Reading& r = *l.last_reading;
  const bool p99 = r.r99() >= r.r50();
  l.degraded = true;
  l.flagged_ms = wall_ms;
  out.push_back(
      event(l, wall_ms,
            fmt::format("{} {} is {:.1f}x its baseline {} (the same hour in {} earlier periods) "
                        "for {}",
                        p99 ? "p99" : "p50", ms_text(p99 ? r.p99 : r.p50), p99 ? r.r99() : r.r50(),
                        ms_text(p99 ? r.base.p99_ns : r.base.p50_ns), r.base.periods,
                        format_duration(std::chrono::milliseconds(wall_ms - l.above_since)))));
}

void BaselineTracker::clear(Lun& l, std::int64_t wall_ms, std::string reason,
                            std::vector<BaselineEvent>& out) {
  l.degraded = false;
  out.push_back(event(l, wall_ms, std::move(reason)));
  l.above_since = l.below_since = -1;
  l.peak = 0;
}

void BaselineTracker::decide(Lun& l, std::int64_t wall_ms, std::vector<BaselineEvent>& out) {
  if (l.restored) {
    out.push_back(event(l, wall_ms,
                        fmt::format("degraded since {}, carried over from the previous run",
                                    rfc3339_ms(l.flagged_ms))));
    out.back().restored = true;
    l.restored = false;
  }
  l.last_reading = reading(l, wall_ms);
  if (!l.last_reading) {
    // Not enough to compare: nothing changes, but a LUN left without
    // enough I/O for a whole period is not kept degraded for ever.
    const std::int64_t quiet_since = l.last_data_ms >= 0 ? l.last_data_ms : l.flagged_ms;
    if (l.degraded && wall_ms - quiet_since >= period_ms_)
      clear(l, wall_ms,
            fmt::format("no window with {} I/Os and a baseline to compare for {}", s_.min_ios,
                        format_duration(s_.period)),
            out);
    return;
  }
  l.last_data_ms = wall_ms;
  const Reading& r = *l.last_reading;
  const bool above = r.r50() >= s_.factor || r.r99() >= s_.factor;
  if (!above && !l.degraded) {
    l.above_since = -1;
    l.peak = 0;
    return;
  }
  l.peak = std::max(l.peak, r.worst());
  if (!l.degraded) {
    if (l.above_since < 0) l.above_since = wall_ms;
    if (wall_ms - l.above_since >= hold_ms_) flag(l, wall_ms, out);
    return;
  }
  if (above) {
    l.below_since = -1;
    return;
  }
  if (l.below_since < 0) l.below_since = wall_ms;
  if (wall_ms - l.below_since >= window_ms_)
    clear(l, wall_ms,
          fmt::format("p50 {:.1f}x and p99 {:.1f}x the baseline, below {}x for {} (peak {:.1f}x)",
                      r.r50(), r.r99(), s_.factor, format_duration(s_.window), l.peak),
          out);
}

std::vector<BaselineStatus> BaselineTracker::status() const {
  std::vector<BaselineStatus> out;
  for (const auto& [label, l] : luns_) {
    if (!l->observed && !l->degraded) continue;
    BaselineStatus s{label, l->id.type, l->degraded};
    if (const auto& r = l->last_reading) {
      s.has_ratio = true;
      s.p50_s = r->p50 / 1e9;
      s.p99_s = r->p99 / 1e9;
      s.baseline_p50_s = r->base.p50_ns / 1e9;
      s.baseline_p99_s = r->base.p99_ns / 1e9;
      s.ratio_p50 = r->r50();
      s.ratio_p99 = r->r99();
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sanwatch
