// SPDX-License-Identifier: Apache-2.0
#include "report/drift.h"

#include <fnmatch.h>

#include <algorithm>
#include <ctime>
#include <map>

#include "report/ledger_reader.h"
#include "report/spans.h"

namespace sanwatch {
namespace {

using nlohmann::json;

struct Episode {
  Span span;
  std::int64_t peak_milli = 0;
};

// Monday 00:00 local of the week holding ms, and its ISO name "2026-W48".
std::pair<std::int64_t, std::string> week_of(std::int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm t{};
  localtime_r(&s, &t);
  t.tm_mday -= (t.tm_wday + 6) % 7;
  t.tm_hour = t.tm_min = t.tm_sec = 0;
  t.tm_isdst = -1;
  const std::time_t monday = std::mktime(&t);
  char name[16] = {};
  std::strftime(name, sizeof(name), "%G-W%V", &t);
  return {static_cast<std::int64_t>(monday) * 1000, name};
}

// The next Monday 00:00 local (weeks are 167 to 169 hours around DST).
std::int64_t next_week(std::int64_t monday_ms) { return week_of(monday_ms + 8 * 86'400'000).first; }

bool selected(const std::vector<std::string>& patterns, const std::string& target) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return fnmatch(p.c_str(), target.c_str(), 0) == 0;
  });
}

// Episodes per target: pairs of rows within one run.
std::map<std::string, std::vector<Episode>> episodes_of(const std::vector<BaselineRecord>& rows,
                                                        const std::vector<RunRecord>& runs) {
  std::map<std::string, std::int64_t> run_end;
  for (const RunRecord& r : runs) run_end[r.run_id] = r.end_ms;
  std::map<std::pair<std::string, std::string>, Episode> open;  // (run, target)
  std::map<std::string, std::vector<Episode>> out;
  for (const BaselineRecord& b : rows) {
    const auto key = std::pair(b.run_id, b.target);
    auto it = open.find(key);
    if (it != open.end()) {
      it->second.peak_milli = std::max(it->second.peak_milli, b.ratio_milli);
      if (b.state == "degraded") continue;
      it->second.span.end = b.ts_ms;
      out[b.target].push_back(it->second);
      open.erase(it);
    } else if (b.state == "degraded") {
      open[key] = Episode{{b.ts_ms, b.ts_ms}, b.ratio_milli};
    }
  }
  for (auto& [key, e] : open) {
    const auto end = run_end.find(key.first);
    e.span.end = end != run_end.end() ? std::max(end->second, e.span.start) : e.span.start;
    out[key.second].push_back(e);
  }
  return out;
}

json week_json(const std::string& name, Span week, const std::vector<Episode>& eps) {
  Spans in;
  std::int64_t peak = 0, n = 0;
  for (const Episode& e : eps) {
    const Span s{std::max(e.span.start, week.start), std::min(e.span.end, week.end)};
    if (s.length() <= 0) continue;
    in.push_back(s);
    peak = std::max(peak, e.peak_milli);
    ++n;
  }
  const std::int64_t ms = total_length(normalize(std::move(in)));
  if (ms <= 0) return nullptr;
  return {{"week", name},
          {"start_ms", week.start},
          {"end_ms", week.end},
          {"degraded_ms", ms},
          {"hours_degraded", static_cast<double>(ms) / 3.6e6},
          {"peak_ratio", static_cast<double>(peak) / 1000.0},
          {"episodes", n}};
}

}  // namespace

BaselineRecord baseline_record_of(const LedgerRow& r) {
  BaselineRecord b;
  b.target = r.target;
  b.ts_ms = r.ts_ms;
  b.run_id = r.body.value("run_id", "");
  b.target_type = r.body.value("target_type", "");
  b.state = r.body.value("state", "");
  for (const char* k : {"ratio_p50_milli", "ratio_p99_milli", "peak_ratio_milli"}) {
    const auto it = r.body.find(k);
    if (it != r.body.end() && it->is_number_integer())
      b.ratio_milli = std::max(b.ratio_milli, it->get<std::int64_t>());
  }
  return b;
}

json weeks_above_baseline(const std::vector<BaselineRecord>& rows,
                          const std::vector<RunRecord>& runs, const Period& p,
                          const std::string& host, const std::vector<std::string>& patterns) {
  std::map<std::string, std::string> types;
  for (const BaselineRecord& b : rows) types[b.target] = b.target_type;
  json targets = json::array();
  for (const auto& [target, eps] : episodes_of(rows, runs)) {
    if (!selected(patterns, target)) continue;
    json weeks = json::array();
    std::int64_t total = 0, peak = 0, n = 0;
    for (auto week = week_of(p.from_ms); week.first < p.to_ms;) {
      const std::int64_t end = next_week(week.first);
      json w =
          week_json(week.second, {std::max(week.first, p.from_ms), std::min(end, p.to_ms)}, eps);
      if (!w.is_null()) {
        total += w["degraded_ms"].get<std::int64_t>();
        weeks.push_back(std::move(w));
      }
      week = week_of(end);
    }
    for (const Episode& e : eps)
      if (e.span.start < p.to_ms && e.span.end > p.from_ms) {
        peak = std::max(peak, e.peak_milli);
        ++n;
      }
    if (total <= 0) continue;
    targets.push_back({{"target", target},
                       {"target_type", types[target]},
                       {"host", host},
                       {"degraded_ms", total},
                       {"episodes", n},
                       {"peak_ratio", static_cast<double>(peak) / 1000.0},
                       {"weeks", std::move(weeks)}});
  }
  return {{"rule",
           "A LUN is degraded while the agent's latency baseline condition holds: its p50 or p99 "
           "over the last window stayed at the configured factor times the median of the same "
           "hour in earlier weeks, or more, for the hold time. Time is counted from the "
           "`degraded` row to the next `baseline` row of the same run, or to the run's end."},
          {"targets", std::move(targets)}};
}

}  // namespace sanwatch
