// SPDX-License-Identifier: Apache-2.0
#include "detect/detector.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "base/duration.h"  // human_duration

namespace sanwatch {
namespace {

std::uint64_t ns(Duration d) { return static_cast<std::uint64_t>(d.count()); }
std::string human(std::uint64_t n) { return human_duration(static_cast<double>(n) / 1e9); }
std::string human(Duration d) { return format_duration(d); }
int idx(Health h) { return static_cast<int>(h); }

}  // namespace

std::string_view health_name(Health h) {
  static constexpr std::string_view kNames[] = {"ok",      "slow",   "degraded", "down",
                                                "stalled", "failed", "flapping", "gone"};
  return kNames[idx(h)];
}

std::string_view kind_name(TargetKind k) {
  static constexpr std::string_view kNames[] = {"device", "path", "map"};
  return kNames[static_cast<int>(k)];
}

std::vector<Health> states_of(TargetKind k) {
  using H = Health;
  switch (k) {
    case TargetKind::kPath:
      return {H::kOk, H::kSlow, H::kStalled, H::kFailed, H::kFlapping, H::kGone};
    case TargetKind::kMap:
      return {H::kOk, H::kSlow, H::kDegraded, H::kDown, H::kStalled, H::kFailed, H::kGone};
    case TargetKind::kDevice:
      break;
  }
  return {H::kOk, H::kSlow, H::kStalled, H::kFailed, H::kGone};
}

Detector::Detector(const Thresholds& t, std::uint64_t canary_deadline_ns) {
  configure(t, canary_deadline_ns);
}

void Detector::configure(const Thresholds& t, std::uint64_t canary_deadline_ns) {
  const bool window_changed = t.slow_window != t_.slow_window;
  t_ = t;
  canary_deadline_ns_ = canary_deadline_ns;
  if (window_changed) {
    ios_.set_window(ns(t.slow_window));
    slow_.set_window(ns(t.slow_window));
    errors_.set_window(ns(t.slow_window));
  }
  if (flap_window_ != t.flap_window) {
    flap_window_ = t.flap_window;
    flaps_.set_window(ns(t.flap_window));
  }
}

void Detector::path_reinstated(std::uint64_t now) { flaps_.add(clamp(now), 1); }

void Detector::path_failed(std::uint64_t now, bool failed, const std::string& why) {
  now = clamp(now);
  if (path_failed_ && !failed) cond_[idx(Health::kFailed)].last_true = now;
  path_failed_ = failed;
  if (failed) path_failed_why_ = why;
  clock_.lasting(now, Lasting::kPathFailed, failed);
}

void Detector::valid_paths(std::uint64_t now, int valid, int total, int standby) {
  now = clamp(now);
  // The condition that held until now keeps its hold for the recovery time.
  if (total_ > 0 && valid_ == 0 && valid != 0) cond_[idx(Health::kDown)].last_true = now;
  if (degraded_now() && valid + standby >= total) cond_[idx(Health::kDegraded)].last_true = now;
  valid_ = valid;
  total_ = total;
  standby_ = standby;
  clock_.lasting(now, Lasting::kNoPaths, total > 0 && valid == 0);
}

void Detector::completions(std::uint64_t now, std::uint64_t n) { ios_.add(now, n); }

void Detector::slow_io(std::uint64_t now, std::uint64_t latency_ns) {
  slow_ios(now, 1);
  slow_latency(now, latency_ns);
}

void Detector::slow_ios(std::uint64_t now, std::uint64_t n) { slow_.add(now, n); }

void Detector::slow_latency(std::uint64_t now, std::uint64_t latency_ns) {
  if (latency_ns >= max_latency_ns_ || now - max_latency_at_ > ns(t_.slow_window)) {
    max_latency_ns_ = latency_ns;
    max_latency_at_ = now;
  }
}

void Detector::io_errors(std::uint64_t now, std::uint64_t n, const std::string& status) {
  errors_.add(now, n);
  last_error_ = status;
  clock_.errors_counted(now, n);
}

void Detector::io_event(std::uint64_t start_ns, std::uint64_t end_ns, bool failed) {
  if (failed)
    clock_.failed_io(start_ns, end_ns);
  else
    clock_.completed(start_ns, end_ns, end_ns - start_ns >= ns(t_.stall),
                     end_ns - start_ns >= ns(t_.slow_io));
}

void Detector::oldest_outstanding(std::uint64_t now, std::optional<std::uint64_t> start,
                                  bool at_least) {
  now = clamp(now);
  // A stall that just ended was true until now: recovery counts from here.
  if (oldest_start_ && oldest_start_ != start && now - *oldest_start_ >= ns(t_.stall))
    cond_[idx(Health::kStalled)].last_true = now;
  oldest_start_ = start;
  oldest_at_least_ = start && at_least;
}

void Detector::canary_submitted(std::uint64_t now) { canary_since_ = now; }

void Detector::canary_done(std::uint64_t now, std::uint64_t latency_ns, int err) {
  now = clamp(now);
  if (canary_since_ && now - *canary_since_ >= ns(t_.stall))
    cond_[idx(Health::kStalled)].last_true = now;
  canary_since_.reset();
  canary_latency_ns_ = latency_ns;
  const std::uint64_t sent = now > latency_ns ? now - latency_ns : 1;
  if (err)
    clock_.failed_canary(sent, now);
  else
    clock_.completed(sent, now, latency_ns >= ns(t_.stall),
                     canary_deadline_ns_ && latency_ns > canary_deadline_ns_);
  if (err) {
    ++canary_errors_;
    canary_last_err_ = err;
    return;
  }
  canary_errors_ = 0;
  if (canary_deadline_ns_ && latency_ns > canary_deadline_ns_) {
    canary_late_at_ = now;
    cond_[idx(Health::kSlow)].last_true = now;
  }
}

void Detector::gone(std::uint64_t now, bool is_gone) {
  now = clamp(now);
  if (gone_ && !is_gone) cond_[idx(Health::kGone)].last_true = now;
  gone_ = is_gone;
  clock_.lasting(now, Lasting::kGone, is_gone);
}

std::uint64_t Detector::stall_start() const {
  std::uint64_t s = oldest_start_.value_or(0);
  if (canary_since_ && (!s || *canary_since_ < s)) s = *canary_since_;
  return s;
}

bool Detector::slow_now(std::uint64_t now) const {
  const std::uint64_t slow = slow_.sum(now);
  const std::uint64_t ios = std::max(ios_.sum(now), slow);  // stats may lag the slow event
  if (slow >= t_.slow_min_ios && ios && static_cast<double>(slow) >= t_.slow_share * ios)
    return true;
  return canary_since_ && canary_deadline_ns_ && now - *canary_since_ > canary_deadline_ns_;
}

bool Detector::stalled_now(std::uint64_t now) const {
  const std::uint64_t s = stall_start();
  return s && now >= s && now - s >= ns(t_.stall);
}

bool Detector::failed_now(std::uint64_t now) const {
  return path_failed_ || errors_.sum(now) >= t_.fail_errors || canary_errors_ >= t_.canary_failures;
}

bool Detector::flapping_now(std::uint64_t now) const { return flaps_.sum(now) >= t_.flap_count; }

bool Detector::held(Health h, std::uint64_t now) const {
  const Condition& c = cond_[idx(h)];
  return c.active || (c.last_true && now - c.last_true < ns(t_.recovery));
}

std::optional<Transition> Detector::evaluate(std::uint64_t now) {
  now = clamp(now);
  const bool truth[kNrHealth] = {false,
                                 slow_now(now),
                                 degraded_now(),
                                 total_ > 0 && valid_ == 0,
                                 stalled_now(now),
                                 failed_now(now),
                                 flapping_now(now),
                                 gone_};
  Health next = Health::kOk;
  for (int h = 1; h < kNrHealth; ++h) {
    cond_[h].active = truth[h];
    if (truth[h]) cond_[h].last_true = now;
    if (held(static_cast<Health>(h), now)) next = static_cast<Health>(h);
  }
  clock_.outstanding(now, stall_start(), truth[idx(Health::kStalled)], ns(t_.stall));
  if (next == state_) {
    if (state_ == Health::kOk) clock_.expire(now, std::max(ns(t_.slow_window), ns(t_.stall)));
    return std::nullopt;
  }
  Transition t{state_, next, now, "", evidence(now), clock_.current(now)};
  if (next == Health::kOk) clock_.reset(now);
  if (next > state_ || truth[idx(next)]) {
    t.reason = reason_for(next, now);
  } else {
    t.reason = fmt::format("no longer {} for {}", health_name(state_), human(t_.recovery));
    // A state held only by hysteresis has no live reason to give.
    if (next != Health::kOk)
      t.reason += truth[idx(next)] ? "; still " + reason_for(next, now)
                                   : fmt::format("; {} until quiet for {}", health_name(next),
                                                 human(t_.recovery));
  }
  state_ = next;
  return t;
}

std::string Detector::reason_for(Health h, std::uint64_t now) const {
  switch (h) {
    case Health::kGone:
      return "device is gone";
    case Health::kFlapping:
      return fmt::format("{} fail/reinstate cycles within {}", flaps_.sum(now),
                         human(t_.flap_window));
    case Health::kDown:
      return fmt::format("no valid paths (0 of {})", total_);
    case Health::kDegraded:
      return fmt::format("{} of {} paths valid", valid_, total_);
    case Health::kFailed:
      if (path_failed_) return path_failed_why_;
      if (canary_errors_ >= t_.canary_failures)
        return fmt::format("{} consecutive canary read errors ({})", canary_errors_,
                           std::strerror(canary_last_err_));
      return fmt::format("{} I/O error(s) ({}) within {}", errors_.sum(now), last_error_,
                         human(t_.slow_window));
    case Health::kStalled: {
      const std::uint64_t s = stall_start();
      if (!s) return "stall ended";
      const bool canary = canary_since_ && *canary_since_ == s;
      const bool at_least = !canary && oldest_at_least_ && oldest_start_ == s;
      std::string r = fmt::format("{} outstanding for {}{} (stall threshold {})",
                                  canary ? "canary read" : "oldest I/O",
                                  at_least ? "at least " : "", human(now - s), human(t_.stall));
      if (at_least) r += "; issued before tracing started, the kernel gives no start time";
      if (total_ > 0) r += fmt::format("; {} of {} paths valid", valid_, total_);
      return r;
    }
    case Health::kSlow: {
      if (canary_since_ && canary_deadline_ns_ && now - *canary_since_ > canary_deadline_ns_)
        return fmt::format("canary read outstanding for {} (deadline {})",
                           human(now - *canary_since_), human(canary_deadline_ns_));
      const std::uint64_t slow = slow_.sum(now);
      if (slow >= t_.slow_min_ios)
        return fmt::format("{} of {} I/Os slower than {} within {} (max {})", slow,
                           std::max(ios_.sum(now), slow), human(t_.slow_io), human(t_.slow_window),
                           human(max_latency_ns_));
      return fmt::format("canary read took {} (deadline {})", human(canary_latency_ns_),
                         human(canary_deadline_ns_));
    }
    case Health::kOk:
      break;
  }
  return "ok";
}

std::optional<std::uint64_t> Detector::next_deadline(std::uint64_t now) const {
  std::optional<std::uint64_t> best;
  auto consider = [&](std::uint64_t t) {
    if (t > now && (!best || t < *best)) best = t;
  };
  if (const std::uint64_t s = stall_start(); s && !stalled_now(now)) consider(s + ns(t_.stall));
  if (canary_since_ && canary_deadline_ns_) consider(*canary_since_ + canary_deadline_ns_ + 1);
  for (int h = 1; h < kNrHealth; ++h)
    if (cond_[h].last_true && !cond_[h].active) consider(cond_[h].last_true + ns(t_.recovery));
  // Window sums decay one sub-bucket at a time.
  if (slow_.sum(now) || errors_.sum(now))
    consider(now + ns(t_.slow_window) / SlidingCounter::kSlots);
  return best;
}

Evidence Detector::evidence(std::uint64_t now) const {
  Evidence e;
  e.slow_ios = slow_.sum(now);
  e.ios = std::max(ios_.sum(now), e.slow_ios);
  e.max_latency_s = now - max_latency_at_ <= ns(t_.slow_window) ? max_latency_ns_ / 1e9 : 0;
  if (oldest_start_ && now > *oldest_start_) e.inflight_oldest_s = (now - *oldest_start_) / 1e9;
  e.errors = errors_.sum(now);
  e.last_error = last_error_;
  e.canary_latency_s = canary_latency_ns_ / 1e9;
  if (canary_since_ && now > *canary_since_ + canary_deadline_ns_)
    e.canary_overdue_s = (now - *canary_since_) / 1e9;
  e.canary_errors = canary_errors_;
  e.valid_paths = valid_;
  e.total_paths = total_;
  e.path_flaps = flaps_.sum(now);
  e.standby_paths = standby_;
  return e;
}

}  // namespace sanwatch
