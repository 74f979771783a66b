#include "ledger/compaction.h"

#include <map>

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
    const double under = 1.0 - static_cast<double>(over.get<std::int64_t>()) / static_cast<double>(ios);
    auto& h = hour["minutes_reaching"][threshold];
    if (!h.is_object()) h = nlohmann::json::object();
    for (std::size_t i = 0; i < std::size(kLevels); ++i)
      if (under >= kLevels[i] - 1e-12)
        h[kComplianceLevels[i]] = h.value(kComplianceLevels[i], std::int64_t{0}) + 1;
  }
}

}  // namespace

std::vector<LedgerRow> hours_of(const std::vector<LedgerRow>& minutes) {
  std::map<std::pair<std::int64_t, std::string>, nlohmann::json> hours;
  for (const LedgerRow& m : minutes) {
    if (m.kind != "minute") continue;
    const std::int64_t h = m.ts_ms - ((m.ts_ms % kHour) + kHour) % kHour;
    nlohmann::json& b = hours[{h, m.target}];
    if (b.is_null()) b = {{"hour_ms", h}, {"minutes", 0}};
    // Identity as of the hour's last minute.
    for (const char* k : {"target_type", "device", "wwid", "dm_name", "map", "array",
                          "target_port", "run_id"})
      if (m.body.contains(k)) b[k] = m.body[k];
    b["minutes"] = b["minutes"].get<std::int64_t>() + 1;
    for (const char* k : {"covered_ms", "impaired_ms", "ios", "canary_probes", "canary_failures"})
      b[k] = b.value(k, std::int64_t{0}) + m.body.value(k, std::int64_t{0});
    if (m.body.contains("state_ms")) add_counts(b["state_ms"], m.body["state_ms"]);
    if (m.body.contains("ios_over_ns")) add_counts(b["ios_over_ns"], m.body["ios_over_ns"]);
    add_compliance(b, m.body);
  }
  std::vector<LedgerRow> out;
  for (auto& [key, body] : hours)
    out.push_back(LedgerRow{kChainHours, 0, "hour", key.first, key.second, std::move(body)});
  return out;
}

Result<std::int64_t> compact_minutes(LedgerStore& store, std::int64_t cutoff_ms,
                                     std::int64_t now_ms) {
  cutoff_ms -= ((cutoff_ms % kHour) + kHour) % kHour;  // whole hours only
  SqliteDb::Transaction tx(store.db());
  if (auto st = tx.begin(); !st) return st.error();
  auto keep = store.first_kept(kChainMinutes, cutoff_ms);
  if (!keep) return keep.error();
  auto rows = store.range(kChainMinutes, 1, *keep);
  if (!rows) return rows.error();
  if (rows->empty()) return std::int64_t{0};
  std::vector<LedgerRow> hours = hours_of(*rows);
  if (auto st = store.append_in_transaction(hours); !st) return st.error();
  auto n = store.drop_before(kChainMinutes, *keep, cutoff_ms, now_ms, "compacted into hours");
  if (!n) return n.error();
  if (auto st = tx.commit(); !st) return st.error();
  return n;
}

}  // namespace sanwatch
