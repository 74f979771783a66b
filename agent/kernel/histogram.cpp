// SPDX-License-Identifier: Apache-2.0
#include "kernel/histogram.h"

#include <algorithm>
#include <cmath>

namespace sanwatch {

std::uint64_t LatencyHistogram::lower_ns(std::uint32_t idx) {
  return idx == 0 ? 0 : bpf::sw_bucket_upper_ns(idx - 1);
}

std::uint64_t LatencyHistogram::upper_ns(std::uint32_t idx) {
  if (idx + 1 >= kNrBuckets) return 2 * lower_ns(idx);
  return bpf::sw_bucket_upper_ns(idx);
}

LatencyHistogram::LatencyHistogram(const Counts& c) {
  if (std::any_of(c.begin(), c.end(), [](std::uint64_t v) { return v != 0; }))
    counts_ = std::make_unique<Counts>(c);
}

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& o) {
  if (this != &o) counts_ = o.counts_ ? std::make_unique<Counts>(*o.counts_) : nullptr;
  return *this;
}

const LatencyHistogram::Counts& LatencyHistogram::counts() const {
  static const Counts kZero{};
  return counts_ ? *counts_ : kZero;
}

LatencyHistogram::Counts& LatencyHistogram::buckets() {
  if (!counts_) counts_ = std::make_unique<Counts>();  // value-initialised: zeros
  return *counts_;
}

void LatencyHistogram::add(const LatencyHistogram& o) {
  if (!o.counts_) return;
  Counts& c = buckets();
  for (std::size_t i = 0; i < kNrBuckets; ++i) c[i] += (*o.counts_)[i];
}

void LatencyHistogram::advance_mod32(const std::array<std::uint32_t, kNrBuckets>& low) {
  if (!counts_ && std::all_of(low.begin(), low.end(), [](std::uint32_t v) { return v == 0; }))
    return;
  Counts& c = buckets();
  for (std::size_t i = 0; i < kNrBuckets; ++i) sanwatch::advance_mod32(c[i], low[i]);
}

LatencyHistogram LatencyHistogram::minus(const LatencyHistogram& earlier) const {
  LatencyHistogram d;
  if (!counts_) return d;
  // Counters only grow; a smaller value means the source was reset, and
  // then everything it holds now is new.
  const Counts& e = earlier.counts();
  Counts& out = d.buckets();
  for (std::size_t i = 0; i < kNrBuckets; ++i)
    out[i] = (*counts_)[i] >= e[i] ? (*counts_)[i] - e[i] : (*counts_)[i];
  return d;
}

std::uint64_t LatencyHistogram::total() const {
  std::uint64_t t = 0;
  if (counts_)
    for (auto c : *counts_) t += c;
  return t;
}

double LatencyHistogram::quantile_ns(double q) const {
  const std::uint64_t n = total();
  if (n == 0) return 0;
  // Rank of the q-quantile among n sorted samples, 1-based.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(n)));
  std::uint64_t seen = 0;
  for (std::uint32_t i = 0; i < kNrBuckets; ++i) {
    const std::uint64_t c = (*counts_)[i];
    if (c == 0) continue;
    if (static_cast<double>(seen + c) >= rank) {
      // Spread the bucket's samples evenly across its width and take the
      // midpoint of the rank's share.
      const double lo = static_cast<double>(lower_ns(i));
      const double hi = static_cast<double>(upper_ns(i));
      const double within = (rank - static_cast<double>(seen) - 0.5) / static_cast<double>(c);
      return lo + (hi - lo) * within;
    }
    seen += c;
  }
  return static_cast<double>(upper_ns(kNrBuckets - 1));
}

}  // namespace sanwatch
