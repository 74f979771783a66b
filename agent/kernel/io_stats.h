// SPDX-License-Identifier: Apache-2.0
// Per-device, per-operation block I/O statistics as the engine reports them:
// the per-CPU BPF copies summed, in plain C++ types.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "iolat.h"
#include "kernel/histogram.h"

namespace sanwatch {

enum class Op : int { kRead = 0, kWrite, kFlush, kDiscard, kOther };
inline constexpr int kNrOps = bpf::SW_NR_OPS;
inline constexpr int kNrStatus = SW_NR_STATUS;
inline constexpr int kNrSlo = SW_NR_SLO;

// Latency SLO thresholds in ns as the BPF side holds them: strictly
// increasing, unused entries 0 and last.
using SloThresholds = std::array<std::uint64_t, kNrSlo>;
// Checks thresholds given by a user (at most kNrSlo, each > 0, strictly
// increasing) and packs them; EINVAL with the reason otherwise.
Result<SloThresholds> make_slo_thresholds(const std::vector<std::uint64_t>& ns);

std::string_view op_name(Op op);
std::optional<Op> parse_op(std::string_view s);
// Human name of a blk_status_t code ("ioerr", "timeout", ...).
std::string status_name(unsigned code);
// Whether a blk_status_t could be the path's fault rather than the LUN's:
// the kernel's blk_path_error(), which dm-multipath uses to decide whether
// to retry on another path.
bool is_path_error(unsigned code);

struct OpStats {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  std::uint64_t total_ns_sum = 0;
  std::uint64_t device_ns_sum = 0;
  std::uint64_t device_count = 0;
  std::uint64_t requeues = 0;
  // Completions without error at or over the device's slow_io threshold
  // (exact, counted in BPF): the slow share's numerator, which the ring's
  // slow events cannot be when it overflows.
  std::uint64_t slow = 0;
  std::array<std::uint64_t, kNrStatus> errors{};
  // Completions whose total latency exceeded DeviceStats::slo_ns[i] (exact,
  // counted in BPF; errored completions included, as in `count`).
  std::array<std::uint64_t, kNrSlo> slo_over{};
  LatencyHistogram total;   // allocation -> completion
  LatencyHistogram device;  // issue -> completion
  // Maxima since the reader last reset them (not cumulative).
  std::uint64_t max_total_ns = 0;
  std::uint64_t max_device_ns = 0;

  std::uint64_t error_count() const;
  // Latency quantile (seconds) estimated from the histogram, never above
  // the largest latency seen: interpolation inside a wide bucket can
  // otherwise report a p50 beyond every observation.
  double quantile_s(double q, bool device_time = false) const;
  void add(const OpStats& o);
  // Counters minus an earlier snapshot; maxima are taken from this one.
  OpStats minus(const OpStats& earlier) const;
};

struct DeviceStats {
  std::array<OpStats, kNrOps> ops;
  SloThresholds slo_ns{};  // what each op's slo_over[i] counts against
  OpStats& op(Op o) { return ops[static_cast<int>(o)]; }
  const OpStats& op(Op o) const { return ops[static_cast<int>(o)]; }
  OpStats all() const;
  DeviceStats minus(const DeviceStats& earlier) const;
};

}  // namespace sanwatch
