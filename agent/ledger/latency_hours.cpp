// SPDX-License-Identifier: Apache-2.0
#include "ledger/latency_hours.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <string>

#include "ledger/lat_field.h"

namespace sanwatch {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS latency_hours (
  target TEXT NOT NULL,
  hour_ms INTEGER NOT NULL,
  ios INTEGER NOT NULL,
  p50_ns INTEGER NOT NULL,
  p99_ns INTEGER NOT NULL,
  hist TEXT NOT NULL,
  PRIMARY KEY (target, hour_ms)
) WITHOUT ROWID;
)sql";

// How far the cache has read each chain, in meta: minutes rows up to
// `minutes`; hour rows in (hours, hours_until] are still to be read (those
// that existed when it was rebuilt: later ones fold minutes it has seen).
struct CacheState {
  std::int64_t minutes = -1;  // -1: no cache yet
  std::int64_t hours = 0, hours_until = 0;
};
constexpr const char* kMinutesKey = "latency_hours_minutes_seq";
constexpr const char* kHoursKey = "latency_hours_hours_seq";
constexpr const char* kUntilKey = "latency_hours_hours_until";

using Acc = std::map<std::pair<std::string, std::int64_t>, LatencyHistogram>;

std::int64_t hour_of(std::int64_t ms) {
  return ms - ((ms % kBaselineHourMs) + kBaselineHourMs) % kBaselineHourMs;
}

Result<std::int64_t> query_int(SqliteDb& db, const std::string& sql, std::int64_t missing) {
  auto v = db.query_text(sql);
  if (!v) return v.error();
  if (!*v) return missing;
  std::int64_t n = 0;
  const std::string& t = **v;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p != t.data() + t.size())
    return Error{EINVAL, fmt::format("ledger meta value '{}' is not a number", t)};
  return n;
}

Result<CacheState> read_state(SqliteDb& db) {
  const auto meta = [&](const char* key, std::int64_t missing) {
    return query_int(db, std::string("SELECT value FROM meta WHERE key = '") + key + "'", missing);
  };
  auto m = meta(kMinutesKey, -1);
  auto h = meta(kHoursKey, 0);
  auto u = meta(kUntilKey, 0);
  if (!m) return m.error();
  if (!h) return h.error();
  if (!u) return u.error();
  return CacheState{*m, *h, *u};
}

Status write_state(SqliteDb& db, const CacheState& s) {
  auto put = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  if (!put) return put.error();
  for (const auto& [k, v] :
       {std::pair{kMinutesKey, s.minutes}, {kHoursKey, s.hours}, {kUntilKey, s.hours_until}}) {
    put->reset();
    if (auto st = put->bind(1, k).bind(2, std::to_string(v)).run(); !st) return st;
  }
  return {};
}

// A new cache, or rows it never saw were dropped (compacted by a sanwatch
// without it): start over from what the chains hold now.
Status maybe_rebuild(SqliteDb& db, CacheState& s) {
  auto pruned = query_int(db,
                          "SELECT MAX(json_extract(body, '$.pruned_through_seq')) FROM entries "
                          "WHERE chain = 'minutes' AND kind = 'checkpoint'",
                          0);
  if (!pruned) return pruned.error();
  if (s.minutes >= 0 && *pruned <= s.minutes) return {};
  auto until = query_int(db, "SELECT MAX(seq) FROM entries WHERE chain = 'hours'", 0);
  if (!until) return until.error();
  if (auto st = db.exec("DELETE FROM latency_hours"); !st) return st;
  // Minute rows up to the last cut are gone: their hour rows stand for them.
  s = CacheState{*pruned, 0, *until};
  return {};
}

Result<HourSummary> upsert(SqliteDb& db, const std::string& target, std::int64_t hour,
                           const LatencyHistogram& add) {
  auto get = db.prepare("SELECT hist FROM latency_hours WHERE target = ? AND hour_ms = ?");
  if (!get) return get.error();
  get->bind(1, target).bind(2, hour);
  auto found = get->step();
  if (!found) return found.error();
  LatencyHistogram h;
  if (*found) h = lat_from_json(nlohmann::json::parse(get->text(0), nullptr, false));
  h.add(add);
  const HourSummary s = summarize(h);
  auto put = db.prepare(
      "INSERT OR REPLACE INTO latency_hours (target, hour_ms, ios, p50_ns, p99_ns, hist) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!put) return put.error();
  put->bind(1, target).bind(2, hour).bind(3, static_cast<std::int64_t>(s.ios));
  put->bind(4, s.p50_ns).bind(5, s.p99_ns).bind(6, lat_json(h).dump());
  if (auto st = put->run(); !st) return st.error();
  return s;
}

Result<std::vector<BaselineHour>> flush(SqliteDb& db, const Acc& acc) {
  std::vector<BaselineHour> out;
  for (const auto& [key, h] : acc) {
    auto s = upsert(db, key.first, key.second, h);
    if (!s) return s.error();
    out.push_back(BaselineHour{key.first, key.second, *s});
  }
  return out;
}

void add_row(Acc& acc, const std::string& target, std::int64_t ts_ms, const std::string& lat,
             std::int64_t from_ms) {
  const std::int64_t hour = hour_of(ts_ms);
  if (hour < from_ms) return;
  add_lat(acc[{target, hour}], nlohmann::json::parse(lat, nullptr, false));
}

// Reads rows of `chain` with seq in (after, upto], at most max_rows, into
// acc; `seen` becomes the last seq read. Returns the rows read.
Result<std::int64_t> read_chain(SqliteDb& db, const char* chain, const char* kind,
                                std::int64_t after, std::int64_t upto, std::int64_t max_rows,
                                std::int64_t from_ms, Acc& acc, std::int64_t& seen) {
  auto st = db.prepare(
      "SELECT seq, kind, ts_ms, target, json_extract(body, '$.lat') FROM entries "
      "WHERE chain = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?");
  if (!st) return st.error();
  st->bind(1, chain).bind(2, after).bind(3, upto).bind(4, max_rows);
  std::int64_t n = 0;
  for (;;) {
    auto more = st->step();
    if (!more) return more.error();
    if (!*more) return n;
    ++n;
    seen = st->int64(0);
    if (st->text(1) == kind && !st->is_null(4))
      add_row(acc, st->text(3), st->int64(2), st->text(4), from_ms);
  }
}

}  // namespace

Status create_latency_hours(SqliteDb& db) { return db.exec(kSchema); }

Result<LatencyHoursUpdate> latency_hours_add(LedgerStore& store,
                                             const std::vector<LedgerRow>& appended,
                                             std::int64_t from_ms) {
  LatencyHoursUpdate out;
  auto first = std::find_if(appended.begin(), appended.end(),
                            [](const LedgerRow& r) { return r.chain == kChainMinutes; });
  if (first == appended.end()) return out;
  SqliteDb& db = store.db();
  SqliteDb::Transaction tx(db);
  if (auto st = tx.begin(); !st) return st.error();
  auto s = read_state(db);
  if (!s) return s.error();
  if (s->minutes < 0 || first->seq != s->minutes + 1) {
    out.behind = true;
    return out;
  }
  Acc acc;
  for (auto it = first; it != appended.end(); ++it) {
    if (it->chain != kChainMinutes) continue;
    s->minutes = it->seq;
    if (it->kind == "minute" && it->body.contains("lat") && hour_of(it->ts_ms) >= from_ms)
      add_lat(acc[{it->target, hour_of(it->ts_ms)}], it->body["lat"]);
  }
  auto hours = flush(db, acc);
  if (!hours) return hours.error();
  if (auto st = write_state(db, *s); !st) return st.error();
  if (auto st = tx.commit(); !st) return st.error();
  out.hours = std::move(hours).value();
  return out;
}

Result<std::int64_t> latency_hours_catch_up(LedgerStore& store, std::int64_t from_ms,
                                            std::int64_t max_rows,
                                            std::vector<BaselineHour>* changed) {
  SqliteDb& db = store.db();
  SqliteDb::Transaction tx(db);
  if (auto st = tx.begin(); !st) return st.error();
  auto s = read_state(db);
  if (!s) return s.error();
  if (auto st = maybe_rebuild(db, *s); !st) return st.error();
  Acc acc;
  std::int64_t n = 0;
  if (s->hours < s->hours_until) {
    auto r = read_chain(db, kChainHours, "hour", s->hours, s->hours_until, max_rows, from_ms, acc,
                        s->hours);
    if (!r) return r.error();
    n = *r;
    if (n == 0) s->hours = s->hours_until;  // pruned meanwhile
  }
  if (n == 0) {
    auto r = read_chain(db, kChainMinutes, "minute", s->minutes, INT64_MAX, max_rows, from_ms, acc,
                        s->minutes);
    if (!r) return r.error();
    n = *r;
  }
  auto hours = flush(db, acc);
  if (!hours) return hours.error();
  if (auto st = write_state(db, *s); !st) return st.error();
  if (auto st = tx.commit(); !st) return st.error();
  if (changed) changed->insert(changed->end(), hours->begin(), hours->end());
  return n;
}

Result<std::int64_t> latency_hours_prune(LedgerStore& store, std::int64_t before_ms) {
  auto del = store.db().prepare("DELETE FROM latency_hours WHERE hour_ms < ?");
  if (!del) return del.error();
  if (auto st = del->bind(1, before_ms).run(); !st) return st.error();
  return static_cast<std::int64_t>(sqlite3_changes(store.db().handle()));
}

Result<std::vector<BaselineHour>> latency_hours_load(LedgerStore& store, std::int64_t from_ms) {
  auto st = store.db().prepare(
      "SELECT target, hour_ms, ios, p50_ns, p99_ns FROM latency_hours WHERE hour_ms >= ? "
      "ORDER BY target, hour_ms");
  if (!st) return st.error();
  st->bind(1, from_ms);
  std::vector<BaselineHour> out;
  for (;;) {
    auto more = st->step();
    if (!more) return more.error();
    if (!*more) return out;
    out.push_back(BaselineHour{
        st->text(0), st->int64(1),
        HourSummary{static_cast<std::uint64_t>(st->int64(2)), st->int64(3), st->int64(4)}});
  }
}

Result<std::vector<BaselineRestore>> baseline_restores(LedgerStore& store, std::int64_t since_ms) {
  auto st = store.db().prepare(
      "SELECT target, ts_ms, body FROM entries WHERE chain = 'events' AND seq IN "
      "(SELECT MAX(seq) FROM entries WHERE chain = 'events' AND kind = 'baseline' GROUP BY "
      "target)");
  if (!st) return st.error();
  std::vector<BaselineRestore> out;
  for (;;) {
    auto more = st->step();
    if (!more) return more.error();
    if (!*more) return out;
    const auto body = nlohmann::json::parse(st->text(2), nullptr, false);
    if (!body.is_object() || body.value("state", "") != "degraded" || st->int64(1) < since_ms)
      continue;
    // A restored row's since_ms is when the episode was flagged; a fresh
    // one was flagged at its own ts (its since_ms is when the hold began).
    const std::int64_t flagged =
        body.value("restored", false) ? body.value("since_ms", st->int64(1)) : st->int64(1);
    const auto milli = std::max(body.value("peak_ratio_milli", std::int64_t{0}),
                                body.value("ratio_p99_milli", std::int64_t{0}));
    out.push_back(BaselineRestore{st->text(0), body.value("target_type", ""), flagged,
                                  static_cast<double>(milli) / 1000.0});
  }
}

}  // namespace sanwatch
