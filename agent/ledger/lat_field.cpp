// SPDX-License-Identifier: Apache-2.0
#include "ledger/lat_field.h"

namespace sanwatch {

nlohmann::json lat_json(const LatencyHistogram& h) {
  nlohmann::json out = nlohmann::json::array();
  if (h.empty()) return out;
  const auto& c = h.counts();
  for (std::uint32_t i = 0; i < kNrBuckets; ++i)
    if (c[i]) out.push_back({LatencyHistogram::upper_ns(i), c[i]});
  return out;
}

void add_lat(LatencyHistogram& into, const nlohmann::json& j) {
  if (!j.is_array()) return;
  for (const auto& e : j) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_integer() || !e[1].is_number_integer())
      continue;
    const auto upper = e[0].get<std::int64_t>();
    const auto n = e[1].get<std::int64_t>();
    if (upper <= 0 || n <= 0) continue;
    into.record(static_cast<std::uint64_t>(upper) - 1, static_cast<std::uint64_t>(n));
  }
}

LatencyHistogram lat_from_json(const nlohmann::json& j) {
  LatencyHistogram h;
  add_lat(h, j);
  return h;
}

}  // namespace sanwatch
