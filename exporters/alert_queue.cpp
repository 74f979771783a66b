// SPDX-License-Identifier: Apache-2.0
// AlertBook: one firing alert per target, resolved as it was sent.
// AlertQueue: bounded FIFO that evicts what costs least on overflow.
#include "exporters/alert_queue.h"

#include <algorithm>
#include <utility>

namespace sanwatch {
namespace {

using detail::resolved;
using detail::subject;

}  // namespace

std::vector<Alert> AlertBook::apply(const StateChange& ev, const AlertContext& ctx) {
  std::vector<Alert> out;
  const std::string &type = ev.target.type, &target = ev.target.label, &ts = ev.ts;
  const std::string from(ev.from()), to(ev.to());
  if (type.empty() || target.empty()) return out;
  const std::string key = type + "/" + target;
  const auto gone_summary = [&](const std::string& state) {
    return subject(ev, ctx) + " is no longer " + state + ", now " + to + ": " +
           ev.transition.reason;
  };
  if (auto it = firing_.find(key); it != firing_.end()) {
    const std::string was(it->second.event.to());
    out.push_back(resolved(it->second.alert, ts, gone_summary(was)));
    firing_.erase(it);
  } else if (auto a = alert_for(ev, from, ctx)) {
    // No history (first event after a start or a reload): rebuilt from this
    // event, it has the same labels unless the identity fields changed.
    out.push_back(resolved(*a, ts, gone_summary(from)));
  }
  if (auto a = alert_for(ev, to, ctx)) {
    out.push_back(*a);
    firing_[key] = Entry{std::move(*a), ev};
  }
  return out;
}

std::vector<Alert> AlertBook::apply_baseline(const BaselineEvent& ev, const AlertContext& ctx) {
  std::vector<Alert> out;
  const std::string key = ev.target.type + "/" + ev.target.label;
  auto it = baseline_.find(key);
  if (!ev.degraded) {
    if (it == baseline_.end()) return out;
    StateChange who;
    who.target = it->second.event.target;
    out.push_back(resolved(it->second.alert, ev.ts,
                           subject(who, ctx) + " is back within its baseline: " + ev.reason));
    baseline_.erase(it);
    return out;
  }
  if (it != baseline_.end()) return out;  // already firing
  if (auto a = baseline_alert(ev, ctx)) {
    out.push_back(*a);
    baseline_[key] = BaselineEntry{std::move(*a), ev};
  }
  return out;
}

std::vector<Alert> AlertBook::relabel(const AlertContext& ctx, const std::string& now_ts) {
  std::vector<Alert> out;
  for (auto& [key, e] : baseline_) {
    auto a = baseline_alert(e.event, ctx);
    if (!a || a->labels == e.alert.labels) continue;
    a->starts_at = e.alert.starts_at;
    out.push_back(resolved(e.alert, now_ts, ""));
    out.push_back(*a);
    e.alert = std::move(*a);
  }
  for (auto& [key, e] : firing_) {
    auto a = alert_for(e.event, std::string(e.event.to()), ctx);
    if (!a || a->labels == e.alert.labels) continue;
    a->starts_at = e.alert.starts_at;
    out.push_back(resolved(e.alert, now_ts, ""));
    out.push_back(*a);
    e.alert = std::move(*a);
  }
  return out;
}

std::vector<Alert> AlertBook::firing() const {
  std::vector<Alert> out;
  for (const auto& [key, e] : firing_) out.push_back(e.alert);
  for (const auto& [key, e] : baseline_) out.push_back(e.alert);
  return out;
}

bool AlertBook::is_firing(const Alert& a) const {
  for (const auto& [key, e] : firing_)
    if (e.alert.labels == a.labels && e.alert.starts_at == a.starts_at) return true;
  for (const auto& [key, e] : baseline_)
    if (e.alert.labels == a.labels && e.alert.starts_at == a.starts_at) return true;
  return false;
}

std::size_t AlertQueue::victim(const FiringPred& still_firing) const {
  for (std::size_t i = in_flight_; i < q_.size(); ++i)
    if (!q_[i].resolved() && still_firing && still_firing(q_[i])) return i;
  std::map<std::string, std::size_t> last;
  for (std::size_t i = 0; i < q_.size(); ++i) last[q_[i].fingerprint()] = i;
  for (std::size_t i = in_flight_; i < q_.size(); ++i)
    if (q_[i].resolved() || last[q_[i].fingerprint()] != i) return i;
  // Only in-flight entries left: evict the oldest anyway, the bound is hard.
  return in_flight_ < q_.size() ? in_flight_ : 0;
}

void AlertQueue::evict(std::size_t i) {
  q_.erase(q_.begin() + static_cast<std::ptrdiff_t>(i));
  if (i < in_flight_) --in_flight_;
}

std::size_t AlertQueue::push(Alert a, const FiringPred& still_firing) {
  std::size_t evicted = 0;
  for (; q_.size() >= capacity_; ++evicted) evict(victim(still_firing));
  q_.push_back(std::move(a));
  return evicted;
}

std::size_t AlertQueue::set_capacity(std::size_t capacity, const FiringPred& still_firing) {
  capacity_ = capacity ? capacity : 1;
  std::size_t evicted = 0;
  for (; q_.size() > capacity_; ++evicted) evict(victim(still_firing));
  return evicted;
}

std::vector<Alert> AlertQueue::begin_batch(std::size_t max) {
  in_flight_ = std::min(max, q_.size());
  return {q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(in_flight_)};
}

std::size_t AlertQueue::finish_batch(bool remove) {
  const std::size_t n = in_flight_;
  if (remove) q_.erase(q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(n));
  in_flight_ = 0;
  return remove ? n : 0;
}

}  // namespace sanwatch
