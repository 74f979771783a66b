// SPDX-License-Identifier: Apache-2.0
// When a target was truly impaired, as opposed to when its state said so.
// States carry hysteresis (a stall is seen only once the oldest I/O crosses
// its threshold, ok returns only after `recovery`); evidence of downtime must
// not: it runs from the start of the I/O that later stalled, the first failed
// I/O, the path's failure, to the completion of the last stuck I/O, the last
// error, the path's return. Pure: every input carries CLOCK_MONOTONIC times.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sanwatch {

// [start, end] in CLOCK_MONOTONIC ns; start 0 = no evidence yet.
struct Span {
  std::uint64_t start_ns = 0, end_ns = 0;
  bool empty() const { return start_ns == 0; }
  std::uint64_t duration_ns() const { return empty() ? 0 : end_ns - start_ns; }
  void add(std::uint64_t s, std::uint64_t e) {
    if (s == 0) s = 1;  // 0 means empty
    if (e < s) e = s;
    start_ns = empty() ? s : std::min(start_ns, s);
    end_ns = std::max(end_ns, e);
  }
};

// One episode: from the first evidence until the state returns to ok.
struct Impairment {
  // Hard evidence: stall-level I/O and canaries, I/O errors, failed canaries,
  // a failed path, no valid paths, a vanished device. What availability counts.
  Span hard;
  // I/O slower than slow_io, late canaries: counted only when slow counts.
  Span slow;
  bool ongoing = false;  // hard evidence still true at the last observation
  std::uint64_t errors = 0;
  std::uint64_t canary_failures = 0;
  std::uint64_t max_latency_ns = 0;    // slowest completed I/O or canary
  std::uint64_t peak_oldest_ns = 0;    // greatest age of outstanding I/O seen
  std::uint64_t stall_crossed_ns = 0;  // when outstanding I/O first crossed the stall threshold
  bool empty() const { return hard.empty() && slow.empty(); }
};

// Conditions that hold over time rather than happen at an instant.
enum class Lasting { kStall = 0, kPathFailed, kNoPaths, kGone, kCount };

class ImpairmentClock {
 public:
  // A completed I/O or canary: hard when it took at least the stall
  // threshold, slow when over slow_io (or the canary deadline).
  void completed(std::uint64_t start_ns, std::uint64_t end_ns, bool hard, bool slow);
  // A failed I/O from start to end (spans come from the engine's error
  // events), or n more errors counted without times.
  void failed_io(std::uint64_t start_ns, std::uint64_t end_ns);
  void errors_counted(std::uint64_t now, std::uint64_t n);
  void failed_canary(std::uint64_t start_ns, std::uint64_t end_ns);
  void slow(std::uint64_t start_ns, std::uint64_t end_ns) { cur_.slow.add(start_ns, end_ns); }
  // Outstanding I/O (or a canary) whose start is `start_ns`, seen at `now`;
  // `stalled`: older than the stall threshold. The span grows only to the
  // last instant it was seen outstanding: the completion ends it exactly.
  void outstanding(std::uint64_t now, std::uint64_t start_ns, bool stalled,
                   std::uint64_t threshold_ns);
  // A lasting condition turned on or off at `now`.
  void lasting(std::uint64_t now, Lasting what, bool on);

  // The episode as of `now`: lasting conditions still on extend to now.
  Impairment current(std::uint64_t now) const;
  // The state returned to ok: the next evidence starts a new episode.
  void reset(std::uint64_t now);
  // In ok: forget evidence older than `horizon` that led to no state change.
  void expire(std::uint64_t now, std::uint64_t horizon);

 private:
  Impairment cur_;
  std::uint64_t on_since_[static_cast<int>(Lasting::kCount)] = {};
  bool stall_seen_ = false;  // outstanding past the threshold at the last scan
};

}  // namespace sanwatch
