// SPDX-License-Identifier: Apache-2.0
// Time a target spent in each state, and its down time by the ledger's
// accounting rule (docs/ledger.md "Down"), as monotonic counters: what
// sanwatch_target_state_seconds_total and sanwatch_target_down_seconds_total
// export, so that increase() over any window gives down time and measured
// time without sampling error, and the fleet's figures agree with the
// per-host ledgers. Pure: every input carries CLOCK_MONOTONIC times.
#pragma once

#include <array>
#include <cstdint>

#include "detect/detector.h"
#include "detect/down_states.h"
#include "detect/impairment.h"

namespace sanwatch {

inline bool is_down_state(Health h) { return is_down_state(health_name(h)); }

// What an episode's availability counts, as the ledger's incident row
// states it: the hard evidence when its worst state is a down state, else
// its slow span; the detection period [detected, end] when that is empty.
Span counted_span(const Impairment& imp, bool down, std::uint64_t detected_ns,
                  std::uint64_t end_ns);

class AvailabilityMeter {
 public:
  AvailabilityMeter() = default;
  // Starts measuring at `now` in `state` (a new target starts in ok).
  explicit AvailabilityMeter(std::uint64_t now, Health state = Health::kOk)
      : state_(state), since_(now) {}

  // A state change; `t.impairment` is the episode as of t.at_ns (on a
  // return to ok, the whole of it).
  void transition(const Transition& t);

  // Seconds in state `h` since the start, up to `now`.
  double state_seconds(Health h, std::uint64_t now) const;
  // Down seconds since the start, given the current episode as of `now`.
  // Never less than a value returned before: the counter is monotonic even
  // if an episode's final span comes out shorter than its running estimate.
  double down_seconds(std::uint64_t now, const Impairment& episode) const;

 private:
  std::uint64_t episode_down_ns(const Impairment& imp, std::uint64_t end_ns) const;

  std::array<std::uint64_t, kNrHealth> in_state_ns_{};
  Health state_ = Health::kOk;
  std::uint64_t since_ = 0;
  std::uint64_t closed_down_ns_ = 0;  // episodes that returned to ok
  bool counted_ = false;              // the current episode reached a down state
  std::uint64_t detected_ns_ = 0;     // its first change away from ok
  mutable std::uint64_t reported_ns_ = 0;
};

}  // namespace sanwatch
