// SPDX-License-Identifier: Apache-2.0
#include "ledger/compaction.h"

#include "ledger/lat_field.h"

namespace sanwatch {
namespace {

constexpr std::int64_t kHour = 3'600'000;
constexpr double kLevels[] = {0.90, 0.99, 0.999, 0.9999, 1.0};

void add_counts(nlohmann::json& into, const nlohmann::json& from) {
  if (!into.is_object()) into = nlohmann::json::object();
  for (const auto& [k, v] : from.items())
    if (v.is_number_integer()) into[k] = into.value(k, std::int64_t{0}) + v.get<std::int64_t>();
}

// One minute's contribution to its threshold's compliance histogram.
void add_compliance(nlohmann::json& hour, const nlohmann::json& minute) {
  const std::int64_t ios = minute.value("ios", std::int64_t{0});
  if (ios <= 0) return;
  hour["minutes_with_io"] = hour.value("minutes_with_io", std::int64_t{0}) + 1;
  const nlohmann::json over_by = minute.value("ios_over_ns", nlohmann::json::object());
  for (const auto& [threshold, over] : over_by.items()) {
    const double under =
        1.0 - static_cast<double>(over.get<std::int64_t>()) / static_cast<double>(ios);
    auto& h = hour["minutes_reaching"][threshold];
    if (!h.is_object()) h = nlohmann::json::object();
    for (std::size_t i = 0; i < std::size(kLevels); ++i)
      if (under >= kLevels[i] - 1e-12)
        h[kComplianceLevels[i]] = h.value(kComplianceLevels[i], std::int64_t{0}) + 1;
  }
}

}  // namespace

void HourFold::add(const LedgerRow& m) {
  if (m.kind != "minute") return;
  const std::int64_t h = m.ts_ms - ((m.ts_ms % kHour) + kHour) % kHour;
  nlohmann::json& b = hours_[{h, m.target}];
  if (b.is_null()) b = {{"hour_ms", h}, {"minutes", 0}};
  // Identity as of the hour's last minute.
  for (const char* k : {"target_type", "device", "wwid", "dm_name", "map", "array", "array_id",
                        "target_port", "run_id"})
    if (m.body.contains(k)) b[k] = m.body[k];
  b["minutes"] = b["minutes"].get<std::int64_t>() + 1;
  for (const char* k : {"covered_ms", "impaired_ms", "ios", "canary_probes", "canary_failures"})
    b[k] = b.value(k, std::int64_t{0}) + m.body.value(k, std::int64_t{0});
  if (m.body.contains("state_ms")) add_counts(b["state_ms"], m.body["state_ms"]);
  if (m.body.contains("ios_over_ns")) add_counts(b["ios_over_ns"], m.body["ios_over_ns"]);
  if (m.body.contains("lat")) add_lat(lat_[{h, m.target}], m.body["lat"]);
  add_compliance(b, m.body);
}

std::vector<LedgerRow> HourFold::take() {
  std::vector<LedgerRow> out;
  for (auto& [key, body] : hours_) {
    if (auto it = lat_.find(key); it != lat_.end() && !it->second.empty())
      body["lat"] = lat_json(it->second);
    out.push_back(LedgerRow{kChainHours, 0, "hour", key.first, key.second, std::move(body)});
  }
  hours_.clear();
  lat_.clear();
  return out;
}

Result<std::int64_t> compact_minutes(LedgerStore& store, std::int64_t cutoff_ms,
                                     std::int64_t now_ms, int max_hours) {
  cutoff_ms -= ((cutoff_ms % kHour) + kHour) % kHour;  // whole hours only
  SqliteDb::Transaction tx(store.db());
  if (auto st = tx.begin(); !st) return st.error();
  auto oldest = store.db().query_text(
      "SELECT ts_ms FROM entries WHERE chain = 'minutes' AND kind != 'checkpoint' "
      "ORDER BY seq LIMIT 1");
  if (!oldest) return oldest.error();
  if (!*oldest) return std::int64_t{0};
  const std::int64_t from = std::stoll(**oldest);
  if (from >= cutoff_ms) return std::int64_t{0};
  const std::int64_t chunk =
      std::min(cutoff_ms, from - ((from % kHour) + kHour) % kHour + max_hours * kHour);
  auto keep = store.first_kept(kChainMinutes, chunk);
  if (!keep) return keep.error();
  HourFold fold;
  std::int64_t data_rows = 0;  // minute and alive rows, not earlier checkpoints
  if (auto st = store.for_each_range(kChainMinutes, 1, *keep,
                                     [&](const LedgerRow& r) -> Status {
                                       data_rows += r.kind != "checkpoint";
                                       fold.add(r);
                                       return {};
                                     });
      !st)
    return st.error();
  // Only checkpoints before the cut: dropping them would add another one,
  // for ever. Nothing left to compact.
  if (data_rows == 0) return std::int64_t{0};
  std::vector<LedgerRow> hours = fold.take();
  if (auto st = store.append_in_transaction(hours); !st) return st.error();
  auto n = store.drop_before(kChainMinutes, *keep, chunk, now_ms, "compacted into hours");
  if (!n) return n.error();
  if (auto st = tx.commit(); !st) return st.error();
  return data_rows;
}

}  // namespace sanwatch
