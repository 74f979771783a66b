#include "histogram.h"

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

void LatencyHistogram::add(const LatencyHistogram& o) {
  for (std::size_t i = 0; i < kNrBuckets; ++i) counts_[i] += o.counts_[i];
}

void LatencyHistogram::advance_mod32(const std::array<std::uint32_t, kNrBuckets>& low) {
  for (std::size_t i = 0; i < kNrBuckets; ++i)
    counts_[i] += static_cast<std::uint32_t>(low[i] - static_cast<std::uint32_t>(counts_[i]));
}

LatencyHistogram LatencyHistogram::minus(const LatencyHistogram& earlier) const {
  LatencyHistogram d;
  // Counters only grow; a smaller value means the source was reset, and
  // then everything it holds now is new.
  for (std::size_t i = 0; i < kNrBuckets; ++i)
    d.counts_[i] = counts_[i] >= earlier.counts_[i] ? counts_[i] - earlier.counts_[i] : counts_[i];
  return d;
}

std::uint64_t LatencyHistogram::total() const {
  std::uint64_t t = 0;
  for (auto c : counts_) t += c;
  return t;
}

double LatencyHistogram::quantile_ns(double q) const {
  const std::uint64_t n = total();
  if (n == 0) return 0;
  // Rank of the q-quantile among n sorted samples, 1-based.
  const double rank = std::max(1.0, std::ceil(q * static_cast<double>(n)));
  std::uint64_t seen = 0;
  for (std::uint32_t i = 0; i < kNrBuckets; ++i) {
    const std::uint64_t c = counts_[i];
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
