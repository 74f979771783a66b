// SPDX-License-Identifier: Apache-2.0
#include "report/latency.h"

#include <algorithm>

namespace sanwatch {

LatencyTally& LatencyTally::operator+=(const LatencyTally& o) {
  ios += o.ios;
  over += o.over;
  minutes += o.minutes;
  met += o.met;
  return *this;
}

void tally_minute(const MinuteCounts& m, const std::vector<LatencySlo>& slos,
                  std::vector<LatencyTally>& tallies) {
  tallies.resize(slos.size());
  if (m.ios == 0) return;
  for (std::size_t i = 0; i < slos.size(); ++i) {
    if (i >= m.over.size() || !m.over[i]) continue;
    const std::uint64_t over = std::min(*m.over[i], m.ios);
    LatencyTally& t = tallies[i];
    t.ios += m.ios;
    t.over += over;
    ++t.minutes;
    t.met += slos[i].target.at_most(static_cast<std::int64_t>(m.ios - over),
                                    static_cast<std::int64_t>(m.ios));
  }
}

void tally_hour(const HourCounts& h, const std::vector<LatencySlo>& slos,
                std::vector<LatencyTally>& tallies) {
  tallies.resize(slos.size());
  if (h.ios == 0) return;
  for (std::size_t i = 0; i < slos.size(); ++i) {
    if (i >= h.over.size() || !h.over[i]) continue;
    LatencyTally& t = tallies[i];
    t.ios += h.ios;
    t.over += std::min(*h.over[i], h.ios);
    t.minutes += h.minutes_with_io;
    // The lowest kept level not below the target.
    std::optional<std::pair<std::int64_t, std::uint64_t>> best;
    if (i < h.reaching.size())
      for (const auto& lv : h.reaching[i])
        if (slos[i].target.at_most(lv.first, 1'000'000) && (!best || lv.first < best->first))
          best = lv;
    if (best) t.met += std::min(best->second, h.minutes_with_io);
  }
}

}  // namespace sanwatch
