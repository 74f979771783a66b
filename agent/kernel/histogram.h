// SPDX-License-Identifier: Apache-2.0
// Log-linear latency histogram matching the BPF side's buckets (bpf/iolat.h):
// merging per-CPU copies, interval deltas and percentile estimation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "iolat.h"

namespace sanwatch {

inline constexpr std::size_t kNrBuckets = SW_NR_BUCKETS;

// Advances a 64-bit total to a new reading of its low 32 bits: for counters
// the BPF side keeps as 32-bit values (see stats_fold.h).
inline void advance_mod32(std::uint64_t& total, std::uint32_t low) {
  total += static_cast<std::uint32_t>(low - static_cast<std::uint32_t>(total));
}

class LatencyHistogram {
 public:
  using Counts = std::array<std::uint64_t, kNrBuckets>;

  // The buckets (1.7 KiB) are allocated with the first count: a watched
  // device keeps a histogram per op and latency kind, most of them empty.
  LatencyHistogram() = default;
  explicit LatencyHistogram(const Counts& c);
  LatencyHistogram(const LatencyHistogram& o) { *this = o; }
  LatencyHistogram(LatencyHistogram&&) noexcept = default;
  LatencyHistogram& operator=(const LatencyHistogram& o);
  LatencyHistogram& operator=(LatencyHistogram&&) noexcept = default;

  // Bucket index for a latency, identical to the kernel side.
  static std::uint32_t bucket_of(std::uint64_t ns) { return bpf::sw_bucket(ns); }
  // Bucket bounds in nanoseconds: [lower, upper). The last bucket's upper
  // bound is reported as twice its lower bound (nothing real lives there).
  static std::uint64_t lower_ns(std::uint32_t idx);
  static std::uint64_t upper_ns(std::uint32_t idx);

  void record(std::uint64_t ns, std::uint64_t n = 1) { buckets()[bucket_of(ns)] += n; }
  void add(const LatencyHistogram& o);
  // Advances each bucket to a new reading of its low 32 bits (see
  // stats_fold.h): for counters kept as 32-bit values on the BPF side.
  void advance_mod32(const std::array<std::uint32_t, kNrBuckets>& low);
  // This minus an earlier snapshot of the same monotonic counters.
  LatencyHistogram minus(const LatencyHistogram& earlier) const;

  std::uint64_t total() const;
  bool empty() const { return total() == 0; }
  // Estimated q-quantile (0 < q <= 1) in ns: linear interpolation inside the
  // bucket that holds the rank. 0 for an empty histogram.
  double quantile_ns(double q) const;

  const Counts& counts() const;
  std::uint64_t operator[](std::size_t i) const { return counts_ ? (*counts_)[i] : 0; }

 private:
  Counts& buckets();
  std::unique_ptr<Counts> counts_;  // null: all zero
};

}  // namespace sanwatch
