// SPDX-License-Identifier: Apache-2.0
// Health state of one target (device, path or map) from what the engine and
// the canary observe. Pure: every input carries the time, so tests drive it
// with synthetic timelines.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/config.h"
#include "detect/impairment.h"
#include "detect/sliding_counter.h"

namespace sanwatch {

// Ordered by severity. Devices use ok, slow, stalled, failed, gone; paths
// add flapping (above failed: a path that keeps failing and coming back is
// the finer diagnosis); maps add degraded and down (below stalled: I/O
// actually hanging on a map is what hurts, and its reason names the paths).
enum class Health { kOk = 0, kSlow, kDegraded, kDown, kStalled, kFailed, kFlapping, kGone };
inline constexpr int kNrHealth = 8;
std::string_view health_name(Health h);

enum class TargetKind { kDevice, kPath, kMap };
std::string_view kind_name(TargetKind k);
// The states a target of this kind can be in, in severity order.
std::vector<Health> states_of(TargetKind k);

// Numbers behind a state, for the JSON event line and alerts.
struct Evidence {
  std::uint64_t ios = 0;       // completions in the window
  std::uint64_t slow_ios = 0;  // of which slower than slow_io
  double max_latency_s = 0;    // slowest I/O seen in the window
  double inflight_oldest_s = 0;
  std::uint64_t errors = 0;         // I/O errors in the window
  std::string last_error;           // status name of the last error
  double canary_latency_s = 0;      // last completed canary
  double canary_overdue_s = 0;      // age of a canary outstanding past its deadline, else 0
  std::uint32_t canary_errors = 0;  // consecutive
  int valid_paths = -1;             // maps: paths dm counts as active (-1: not a map)
  int total_paths = -1;
  std::uint64_t path_flaps = 0;  // paths: fail/reinstate cycles in the flap window
  // Maps: paths dm failed because the array put their port in ALUA standby
  // or unavailable (a controller failover), not counted against the map.
  int standby_paths = 0;
  // Paths: the SCSI midlayer's command counters (iodone_cnt, ioerr_cnt,
  // iotmo_cnt) since the path's previous state change; set by the watchdog.
  bool scsi_known = false;
  std::uint64_t scsi_iodone = 0, scsi_ioerr = 0, scsi_iotmo = 0;
};

struct Transition {
  Health from = Health::kOk;
  Health to = Health::kOk;
  std::uint64_t at_ns = 0;
  std::string reason;
  Evidence evidence;
  // The episode this change belongs to, as of at_ns (for the ledger): on a
  // return to ok, the whole of it.
  Impairment impairment;
};

class Detector {
 public:
  explicit Detector(const Thresholds& t, std::uint64_t canary_deadline_ns = 0);
  void configure(const Thresholds& t, std::uint64_t canary_deadline_ns);

  // Inputs.
  void completions(std::uint64_t now, std::uint64_t ios);
  // One slow I/O: slow_ios(now, 1) and slow_latency(now, latency_ns).
  void slow_io(std::uint64_t now, std::uint64_t latency_ns);
  // Slow I/Os counted (the share's numerator), and the latency of one seen
  // (the evidence's max): the engine counts the first exactly, while the
  // second comes from ring events, which can be lost.
  void slow_ios(std::uint64_t now, std::uint64_t n);
  void slow_latency(std::uint64_t now, std::uint64_t latency_ns);
  void io_errors(std::uint64_t now, std::uint64_t n, const std::string& status);
  // One I/O the engine reported (over slow_io, or failed) with its kernel
  // times: what the impairment clock is made of.
  void io_event(std::uint64_t start_ns, std::uint64_t end_ns, bool failed);
  // Start time of the oldest outstanding I/O (CLOCK_MONOTONIC), if any.
  // at_least: it is I/O from before tracing began whose start the kernel
  // does not give; start_ns is when tracing began, a lower bound.
  void oldest_outstanding(std::uint64_t now, std::optional<std::uint64_t> start_ns,
                          bool at_least = false);
  void canary_submitted(std::uint64_t now);
  void canary_done(std::uint64_t now, std::uint64_t latency_ns, int err);
  // The submitted probe never reached the device (it could not be opened).
  void canary_abandoned() { canary_since_.reset(); }
  void gone(std::uint64_t now, bool is_gone);
  // Paths: dm-multipath (or the SCSI layer) says the path is failed.
  void path_failed(std::uint64_t now, bool failed, const std::string& why);
  // Paths: dm-multipath reinstated a failed path: one fail/reinstate cycle.
  void path_reinstated(std::uint64_t now);
  // Maps: paths dm-multipath counts as valid, of all paths; `standby` of the
  // others are out by the array's choice (ALUA standby/unavailable), which
  // does not degrade the map while a valid path carries its I/O.
  void valid_paths(std::uint64_t now, int valid, int total, int standby = 0);

  // The state now; a transition if it changed since the last call.
  std::optional<Transition> evaluate(std::uint64_t now);
  // When evaluate() would next change its answer with no new input (a stall
  // crossing its threshold, a canary its deadline, a recovery period ending).
  std::optional<std::uint64_t> next_deadline(std::uint64_t now) const;

  Health state() const { return state_; }
  Evidence evidence(std::uint64_t now) const;
  // The impairment episode so far (empty when the target is ok and quiet).
  Impairment impairment(std::uint64_t now) const { return clock_.current(now); }

 private:
  struct Condition {
    bool active = false;
    std::uint64_t last_true = 0;  // 0 = never
  };
  bool slow_now(std::uint64_t now) const;
  bool stalled_now(std::uint64_t now) const;
  bool failed_now(std::uint64_t now) const;
  bool flapping_now(std::uint64_t now) const;
  bool held(Health h, std::uint64_t now) const;
  std::string reason_for(Health h, std::uint64_t now) const;
  std::uint64_t stall_start() const;  // oldest of in-flight and canary; 0 if none

  Thresholds t_;
  std::uint64_t canary_deadline_ns_ = 0;
  SlidingCounter ios_, slow_, errors_;
  std::uint64_t max_latency_ns_ = 0, max_latency_at_ = 0;
  std::string last_error_;
  std::optional<std::uint64_t> oldest_start_;
  bool oldest_at_least_ = false;
  std::optional<std::uint64_t> canary_since_;
  std::uint64_t canary_latency_ns_ = 0, canary_late_at_ = 0;
  std::uint32_t canary_errors_ = 0;
  int canary_last_err_ = 0;
  bool gone_ = false;
  bool path_failed_ = false;
  std::string path_failed_why_;
  SlidingCounter flaps_;
  Duration flap_window_{};
  int valid_ = -1, total_ = -1, standby_ = 0;
  bool degraded_now() const { return total_ > 0 && valid_ > 0 && valid_ + standby_ < total_; }
  Condition cond_[kNrHealth];
  ImpairmentClock clock_;
  Health state_ = Health::kOk;
  std::uint64_t last_now_ = 0;  // inputs may arrive with slightly older stamps
  std::uint64_t clamp(std::uint64_t now) { return last_now_ = std::max(last_now_, now); }
};

}  // namespace sanwatch
