// SPDX-License-Identifier: Apache-2.0
#include "report/ledger_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "ledger/ledger_store.h"

namespace sanwatch {
namespace {

using nlohmann::json;

std::int64_t i64(const json& j, const char* key, std::int64_t def = 0) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : def;
}

std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json obj(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}

Span span_of(const json& j) { return Span{i64(j, "start_ms"), i64(j, "end_ms")}; }

void learn(std::map<std::string, TargetInfo>& targets, const std::string& label,
           const std::string& type, const std::string& wwid, const std::string& array,
           const std::string& array_id) {
  if (label.empty()) return;
  TargetInfo& t = targets[label];
  if (!type.empty()) t.target_type = type;
  if (!wwid.empty()) t.wwid = wwid;
  if (!array.empty()) t.array = array;
  if (!array_id.empty()) t.array_id = array_id;
}

// Every report read sees one snapshot of the file, whatever the agent
// commits meanwhile (WAL readers never block the writer).
class ReadTransaction {
 public:
  explicit ReadTransaction(SqliteDb& db) : db_(db) {}
  ~ReadTransaction() {
    if (open_) (void)db_.exec("COMMIT");
  }
  Status begin() {
    auto st = db_.exec("BEGIN");
    open_ = st.ok();
    return st;
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  SqliteDb& db_;
  bool open_ = false;
};

// A run with neither stop nor unclean_end (running, or a copied file):
// covered up to its latest alive or state row.
Result<std::int64_t> last_sign_of_life(SqliteDb& db, const RunRecord& run) {
  auto st = db.prepare(
      "SELECT MAX(ts_ms) FROM entries WHERE kind IN ('alive', 'state') AND ts_ms >= ? "
      "AND json_extract(body, '$.run_id') = ?");
  if (!st) return st.error();
  st->bind(1, run.start_ms).bind(2, run.run_id);
  auto row = st->step();
  if (!row) return row.error();
  return *row && !st->is_null(0) ? std::max(st->int64(0), run.start_ms) : run.start_ms;
}

Status read_runs(LedgerStore& store, LedgerData& d) {
  auto rows = store.select(kChainEvents, {"start", "stop", "unclean_end", "rows_dropped"},
                           INT64_MIN, INT64_MAX);
  if (!rows) return rows.error();
  std::map<std::string, std::pair<std::int64_t, std::string>> ends;  // run_id -> end
  std::map<std::string, Spans> lost;                                 // run_id -> gaps
  for (const LedgerRow& r : *rows) {
    if (r.kind == "rows_dropped") {
      // From the first dropped row's time (or the first drop) to the last.
      const std::int64_t from = std::min(i64(r.body, "from_ms", r.ts_ms), r.ts_ms);
      const std::int64_t to = std::max(i64(r.body, "to_ms", r.ts_ms), i64(r.body, "last_ms", 0));
      lost[str(r.body, "run_id")].push_back({from, to + 1});
    }
    if (r.kind == "start") d.runs.push_back(run_of(r));
    if (r.kind == "stop") ends[str(r.body, "run_id")] = {r.ts_ms, "stop"};
    if (r.kind == "unclean_end")
      ends.try_emplace(str(r.body, "run_id"), i64(r.body, "last_seen_ms", r.ts_ms), "unclean");
  }
  for (RunRecord& run : d.runs) {
    run.lost = normalize(std::move(lost[run.run_id]));
    if (auto it = ends.find(run.run_id); it != ends.end()) {
      run.end_ms = std::max(it->second.first, run.start_ms);
      run.end = it->second.second;
      continue;
    }
    auto last = last_sign_of_life(store.db(), run);
    if (!last) return last.error();
    run.end_ms = *last;
  }
  std::stable_sort(d.runs.begin(), d.runs.end(),
                   [](const RunRecord& a, const RunRecord& b) { return a.start_ms < b.start_ms; });
  return {};
}

// Every incident row (they are few): an incident that began long before the
// period may reach into it, and its incident_open must not pass for orphaned.
Status read_incidents(LedgerStore& store, const Period& p, LedgerData& d) {
  auto closed = store.select(kChainEvents, {"incident"}, INT64_MIN, INT64_MAX);
  if (!closed) return closed.error();
  std::set<std::string> ids;
  for (const LedgerRow& r : *closed) {
    IncidentRecord inc = incident_of(r);
    ids.insert(inc.id);
    learn(d.targets, inc.target, inc.target_type, str(obj(r.body, "identity"), "wwid"), inc.array,
          inc.array_id);
    const std::int64_t end = std::max(inc.impairment.end, inc.detection.end);
    if (end >= p.from_ms && inc.impairment.start < p.to_ms) d.incidents.push_back(std::move(inc));
  }
  auto opens = store.select(kChainEvents, {"incident_open"}, INT64_MIN, p.to_ms);
  if (!opens) return opens.error();
  for (const LedgerRow& r : *opens) {
    OpenRecord o = open_of(r);
    const json& id = obj(r.body, "identity");
    learn(d.targets, o.target, o.target_type, str(id, "wwid"), str(id, "array"),
          str(id, "array_id"));
    if (!ids.count(o.id)) d.open_incidents.push_back(std::move(o));
  }
  return {};
}

Status read_states(LedgerStore& store, const Period& p, LedgerData& d) {
  std::int64_t first = p.from_ms;  // state rows from the start of runs in the period
  for (const RunRecord& r : d.runs)
    if (r.start_ms < p.to_ms && r.end_ms >= p.from_ms) first = std::min(first, r.start_ms);
  auto rows = store.select(kChainEvents, {"state", "baseline"}, first, p.to_ms);
  if (!rows) return rows.error();
  for (const LedgerRow& r : *rows) {
    if (r.kind == "baseline") {
      d.baseline.push_back(baseline_record_of(r));
      continue;
    }
    d.states.push_back(StateRecord{str(r.body, "run_id"), r.target, r.ts_ms, str(r.body, "to")});
    learn(d.targets, r.target, str(r.body, "target_type"), str(r.body, "wwid"),
          str(r.body, "array"), str(r.body, "array_id"));
    if (!r.target.empty()) d.targets[r.target].in_period = true;
  }
  return {};
}

// Streamed, with SQLite picking out the few fields (one column per SLO
// threshold): a month of busy targets is millions of rows.
Status read_minutes(LedgerStore& store, const Period& p, const std::vector<LatencySlo>& slos,
                    LedgerData& d) {
  std::string sql =
      "SELECT target, json_extract(body, '$.ios'), json_extract(body, '$.target_type'), "
      "json_extract(body, '$.wwid'), json_extract(body, '$.array'), "
      "json_extract(body, '$.array_id')";
  for (const LatencySlo& s : slos)
    sql += fmt::format(", json_extract(body, '$.ios_over_ns.\"{}\"')", s.threshold_ns);
  auto st = store.db().prepare(
      sql + " FROM entries WHERE chain = ? AND kind = 'minute' AND ts_ms >= ? AND ts_ms < ?");
  if (!st) return st.error();
  st->bind(1, std::string_view(kChainMinutes)).bind(2, p.from_ms).bind(3, p.to_ms);
  MinuteCounts m;
  std::set<std::string> seen;
  for (;;) {
    auto more = st->step();
    if (!more) return more.error();
    if (!*more) return {};
    const std::string target = st->text(0);
    if (target.empty()) continue;
    if (seen.insert(target).second) {  // identity from its first minute row
      learn(d.targets, target, st->text(2), st->text(3), st->text(4), st->text(5));
      d.targets[target].in_period = true;
    }
    if (slos.empty()) continue;
    m.ios = static_cast<std::uint64_t>(std::max<std::int64_t>(st->int64(1), 0));
    m.over.assign(slos.size(), std::nullopt);
    for (std::size_t i = 0; i < slos.size(); ++i)
      if (!st->is_null(6 + static_cast<int>(i)))
        m.over[i] = static_cast<std::uint64_t>(std::max<std::int64_t>(st->int64(6 + int(i)), 0));
    tally_minute(m, slos, d.latency[target]);
  }
}

// The compaction levels as kept in hour rows ("99.9") in units of 10^-4 %.
std::int64_t level_units(const std::string& level) {
  auto pc = parse_percent(level);
  if (!pc) return -1;
  std::int64_t v = pc->num;
  for (int d = pc->decimals; d < 4; ++d) v *= 10;
  return v;
}

// Hour rows of the period (older minutes, compacted): few, so parsed whole.
Status read_hours(LedgerStore& store, const Period& p, const std::vector<LatencySlo>& slos,
                  LedgerData& d) {
  auto rows = store.select(kChainHours, {"hour"}, p.from_ms, p.to_ms);
  if (!rows) return rows.error();
  for (const LedgerRow& r : *rows) {
    if (r.target.empty()) continue;
    learn(d.targets, r.target, str(r.body, "target_type"), str(r.body, "wwid"),
          str(r.body, "array"), str(r.body, "array_id"));
    d.targets[r.target].in_period = true;
    if (slos.empty()) continue;
    HourCounts h;
    h.ios = r.body.value("ios", std::uint64_t{0});
    h.minutes_with_io = r.body.value("minutes_with_io", std::uint64_t{0});
    const nlohmann::json none = nlohmann::json::object();
    const auto& over = r.body.contains("ios_over_ns") ? r.body["ios_over_ns"] : none;
    const auto& reach = r.body.contains("minutes_reaching") ? r.body["minutes_reaching"] : none;
    for (const LatencySlo& s : slos) {
      const std::string key = std::to_string(s.threshold_ns);
      h.over.push_back(over.contains(key) && over[key].is_number_unsigned()
                           ? std::optional(over[key].get<std::uint64_t>())
                           : std::nullopt);
      auto& levels = h.reaching.emplace_back();
      if (reach.contains(key) && reach[key].is_object())
        for (const auto& [lv, n] : reach[key].items())
          if (n.is_number_unsigned() && level_units(lv) >= 0)
            levels.emplace_back(level_units(lv), n.get<std::uint64_t>());
    }
    tally_hour(h, slos, d.latency[r.target]);
  }
  return {};
}

Status read_all(LedgerStore& store, const Period& p, const std::vector<LatencySlo>& slos,
                LedgerData& d) {
  for (const char* chain : {kChainEvents, kChainMinutes, kChainHours}) {
    auto h = store.head(chain);
    if (!h) return h.error();
    if (*h) d.heads[chain] = (*h)->hash;
  }
  if (auto st = read_runs(store, d); !st) return st;
  if (auto st = read_incidents(store, p, d); !st) return st;
  if (auto st = read_states(store, p, d); !st) return st;
  if (auto st = read_hours(store, p, slos, d); !st) return st;
  return read_minutes(store, p, slos, d);
}

}  // namespace

RunRecord run_of(const LedgerRow& r) {
  RunRecord run;
  run.run_id = str(r.body, "run_id");
  run.host = str(r.body, "host");
  run.start_ms = run.end_ms = r.ts_ms;
  if (const auto it = r.body.find("latency_slos_ns"); it != r.body.end() && it->is_array())
    for (const json& v : *it)
      if (v.is_number_unsigned()) run.latency_slos_ns.push_back(v.get<std::uint64_t>());
  return run;
}

IncidentRecord incident_of(const LedgerRow& r) {
  IncidentRecord inc;
  inc.target = r.target;
  inc.id = str(r.body, "id");
  inc.run_id = str(r.body, "run_id");
  inc.target_type = str(r.body, "target_type");
  inc.array = str(r.body, "array");
  if (inc.array.empty()) inc.array = str(obj(r.body, "identity"), "array");
  inc.array_id = str(r.body, "array_id");
  if (inc.array_id.empty()) inc.array_id = str(obj(r.body, "identity"), "array_id");
  inc.host = str(r.body, "host");
  inc.worst_state = str(r.body, "worst_state");
  inc.impairment = span_of(obj(r.body, "impairment"));
  inc.detection = span_of(obj(r.body, "detection"));
  inc.body = r.body;
  return inc;
}

OpenRecord open_of(const LedgerRow& r) {
  OpenRecord o;
  o.target = r.target;
  o.id = str(r.body, "id");
  o.run_id = str(r.body, "run_id");
  o.target_type = str(r.body, "target_type");
  o.host = str(r.body, "host");
  o.state = str(r.body, "state");
  o.impairment_start_ms = i64(r.body, "impairment_start_ms", r.ts_ms);
  o.detected_ms = i64(r.body, "detected_ms", o.impairment_start_ms);
  o.body = r.body;
  return o;
}

Result<LedgerData> read_ledger(LedgerStore& store, const Period& period,
                               const std::vector<LatencySlo>& slos) {
  LedgerData d;
  d.path = store.db().path();
  ReadTransaction tx(store.db());
  if (auto st = tx.begin(); !st) return st.error();
  if (auto st = read_all(store, period, slos, d); !st) return st.error();
  return d;
}

}  // namespace sanwatch
