// SPDX-License-Identifier: Apache-2.0
#include "detect/availability_meter.h"

namespace sanwatch {

Span counted_span(const Impairment& imp, bool down, std::uint64_t detected_ns,
                  std::uint64_t end_ns) {
  Span s = down ? imp.hard : imp.slow;
  if (s.empty()) s = Span{detected_ns, std::max(detected_ns, end_ns)};
  return s;
}

void AvailabilityMeter::transition(const Transition& t) {
  const std::uint64_t at = std::max(t.at_ns, since_);
  in_state_ns_[static_cast<int>(state_)] += at - since_;
  since_ = at;
  if (state_ == Health::kOk && t.to != Health::kOk) {
    detected_ns_ = at;
    counted_ = false;
  }
  counted_ = counted_ || is_down_state(t.to);
  if (t.to == Health::kOk && state_ != Health::kOk) {
    // The episode is over: its final span, never less than what was shown.
    const std::uint64_t shown = reported_ns_ > closed_down_ns_ ? reported_ns_ - closed_down_ns_ : 0;
    closed_down_ns_ += std::max(shown, episode_down_ns(t.impairment, at));
    counted_ = false;
  }
  state_ = t.to;
}

std::uint64_t AvailabilityMeter::episode_down_ns(const Impairment& imp,
                                                 std::uint64_t end_ns) const {
  if (!counted_) return 0;
  return counted_span(imp, true, detected_ns_, end_ns).duration_ns();
}

double AvailabilityMeter::state_seconds(Health h, std::uint64_t now) const {
  std::uint64_t ns = in_state_ns_[static_cast<int>(h)];
  if (h == state_ && now > since_) ns += now - since_;
  return static_cast<double>(ns) / 1e9;
}

double AvailabilityMeter::down_seconds(std::uint64_t now, const Impairment& episode) const {
  const std::uint64_t open = state_ == Health::kOk ? 0 : episode_down_ns(episode, now);
  reported_ns_ = std::max(reported_ns_, closed_down_ns_ + open);
  return static_cast<double>(reported_ns_) / 1e9;
}

}  // namespace sanwatch
