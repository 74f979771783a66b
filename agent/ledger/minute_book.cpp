// SPDX-License-Identifier: Apache-2.0
#include "ledger/minute_book.h"

#include <algorithm>

#include "ledger/lat_field.h"

namespace sanwatch {
namespace {

std::int64_t minute_of(std::int64_t ms) {
  return ms - ((ms % MinuteBook::kMinute) + MinuteBook::kMinute) % MinuteBook::kMinute;
}

// Length of the union of spans within [from, to).
std::int64_t covered(std::vector<WallSpan> spans, std::int64_t from, std::int64_t to) {
  std::sort(spans.begin(), spans.end(),
            [](const WallSpan& a, const WallSpan& b) { return a.start < b.start; });
  std::int64_t total = 0, reach = from;
  for (const WallSpan& s : spans) {
    const std::int64_t a = std::max(s.start, reach), b = std::min(s.end, to);
    if (b > a) {
      total += b - a;
      reach = b;
    }
  }
  return total;
}

}  // namespace

void MinuteBook::begin(std::int64_t wall_ms, Health state, const TargetCounters& c) {
  cur_minute_ = minute_of(wall_ms);
  cut_ = wall_ms;
  base_ = last_ = c;
  state_at_cut_ = state;
}

void MinuteBook::state_changed(std::int64_t wall_ms, Health to) {
  changes_.emplace_back(std::max(wall_ms, cut_), to);
}

MinuteBook::Counts MinuteBook::delta(const TargetCounters& c) const {
  // Counters restart when a device is watched again; never count backwards.
  const auto d = [](std::uint64_t now, std::uint64_t then) {
    return now >= then ? now - then : now;
  };
  Counts n;
  n.ios = d(c.ios, base_.ios);
  n.probes = d(c.canary_probes, base_.canary_probes);
  n.probe_failures = d(c.canary_failures, base_.canary_failures);
  n.slo_over.resize(slo_ns_.size());
  for (std::size_t i = 0; i < slo_ns_.size() && i < c.slo_over.size(); ++i)
    n.slo_over[i] = d(c.slo_over[i], i < base_.slo_over.size() ? base_.slo_over[i] : 0);
  n.lat = c.lat.minus(base_.lat);
  return n;
}

void MinuteBook::sample(std::int64_t wall_ms, TargetCounters c) {
  const std::int64_t m = minute_of(wall_ms);
  if (cur_minute_ >= 0 && m > cur_minute_) {
    counted_[cur_minute_] = delta(c);
    base_ = c;
    // Minutes skipped between samples (a frozen loop) get empty counts.
    for (std::int64_t k = cur_minute_ + kMinute; k < m; k += kMinute) counted_[k] = Counts{};
    cur_minute_ = m;
  }
  last_ = std::move(c);  // moved: the histogram is not copied every second
}

std::vector<nlohmann::json> MinuteBook::take(std::int64_t now_ms, std::int64_t lag_ms, bool final) {
  if (final && cur_minute_ >= 0) {
    counted_[cur_minute_] = delta(last_);
    base_ = last_;
  }
  std::vector<nlohmann::json> out;
  while (!counted_.empty()) {
    const auto it = counted_.begin();
    const std::int64_t m = it->first;
    if (!final && m + kMinute + lag_ms > now_ms) break;
    const std::int64_t end = std::min(m + kMinute, final ? now_ms : m + kMinute);
    auto body = finish(m, std::max(end, cut_), it->second);
    counted_.erase(it);
    if (!body.is_null()) out.push_back(std::move(body));
  }
  return out;
}

nlohmann::json MinuteBook::finish(std::int64_t m, std::int64_t end, const Counts& n) {
  const std::int64_t start = std::max(m, cut_);
  std::array<std::int64_t, kNrHealth> in_state{};
  Health s = state_at_cut_;
  std::int64_t t = start;
  bool changed = false;
  std::size_t used = 0;
  for (; used < changes_.size() && changes_[used].first < end; ++used) {
    const auto& [ts, to] = changes_[used];
    if (ts > t) in_state[static_cast<int>(s)] += ts - t;
    t = std::max(t, ts);
    s = to;
    changed = true;
  }
  in_state[static_cast<int>(s)] += std::max<std::int64_t>(end - t, 0);
  changes_.erase(changes_.begin(), changes_.begin() + static_cast<std::ptrdiff_t>(used));
  state_at_cut_ = s;
  std::vector<WallSpan> spans = closed_;
  if (open_) spans.push_back(*open_);
  const std::int64_t impaired = covered(spans, start, end);
  std::erase_if(closed_, [end](const WallSpan& w) { return w.end <= end; });
  cut_ = end;

  bool trouble = changed || impaired > 0;
  nlohmann::json states = nlohmann::json::object();
  for (int h = 0; h < kNrHealth; ++h) {
    if (!in_state[h]) continue;
    states[std::string(health_name(static_cast<Health>(h)))] = in_state[h];
    trouble |= h != 0;
  }
  // An idle, healthy minute is not written: the alive rows cover it.
  if (!trouble && !n.ios && !n.probes) return nullptr;
  nlohmann::json slo = nlohmann::json::object();
  for (std::size_t i = 0; i < slo_ns_.size(); ++i)
    slo[std::to_string(slo_ns_[i])] = i < n.slo_over.size() ? n.slo_over[i] : 0;
  nlohmann::json body{{"minute_ms", m},
                      {"covered_ms", end - start},
                      {"state_ms", states},
                      {"impaired_ms", impaired},
                      {"ios", n.ios},
                      {"ios_over_ns", slo},
                      {"canary_probes", n.probes},
                      {"canary_failures", n.probe_failures}};
  if (!n.lat.empty()) body["lat"] = lat_json(n.lat);
  return body;
}

}  // namespace sanwatch
