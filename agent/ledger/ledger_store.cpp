// SPDX-License-Identifier: Apache-2.0
#include "ledger/ledger_store.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "ledger/latency_hours.h"

namespace sanwatch {
namespace {

// Version 1. Views let an operator read the ledger with the sqlite3 CLI.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  chain TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  ts_ms INTEGER NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (chain, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_kind ON entries (kind, ts_ms);
CREATE VIEW IF NOT EXISTS incidents AS
  SELECT seq, target, json_extract(body, '$.worst_state') AS worst_state,
         json_extract(body, '$.impairment.start') AS impairment_start,
         json_extract(body, '$.impairment.end') AS impairment_end,
         json_extract(body, '$.impairment.duration_ms') AS duration_ms,
         json_extract(body, '$.identity.wwid') AS wwid,
         json_extract(body, '$.identity.array') AS array, body
  FROM entries WHERE chain = 'events' AND kind = 'incident';
CREATE VIEW IF NOT EXISTS state_changes AS
  SELECT seq, ts_ms, target, json_extract(body, '$.from') AS "from",
         json_extract(body, '$.to') AS "to", json_extract(body, '$.reason') AS reason
  FROM entries WHERE chain = 'events' AND kind = 'state';
)sql";

constexpr const char* kSelectColumns =
    "SELECT chain, seq, kind, ts_ms, target, body, prev_hash, hash FROM entries ";

Result<LedgerRow> read_row(SqliteStmt& st) {
  return row_from_columns(st.text(0), st.int64(1), st.text(2), st.int64(3), st.text(4), st.text(5),
                          st.text(6), st.text(7));
}

}  // namespace

Result<LedgerRow> row_from_columns(std::string chain, std::int64_t seq, std::string kind,
                                   std::int64_t ts_ms, std::string target, const std::string& body,
                                   std::string prev_hash, std::string hash) {
  LedgerRow r{std::move(chain),  seq, std::move(kind),      ts_ms,
              std::move(target), {},  std::move(prev_hash), std::move(hash)};
  r.body = nlohmann::json::parse(body, nullptr, false);
  if (r.body.is_discarded() || !r.body.is_object())
    return Error{0, fmt::format("{} #{}: body is not a JSON object", r.chain, r.seq)};
  return r;
}

Result<LedgerStore> LedgerStore::open(const std::string& path, Access access) {
  auto db = SqliteDb::open(
      path, access == Access::kReadOnly ? SqliteDb::Mode::kReadOnly : SqliteDb::Mode::kReadWrite);
  if (!db) return db.error();
  LedgerStore s(std::move(db).value());
  if (auto st = s.create_or_migrate(access); !st) return st.error();
  return s;
}

Status LedgerStore::create_or_migrate(Access access) {
  auto has_meta =
      db_.query_text("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!has_meta) return has_meta.error();
  if (*has_meta) {
    auto v = db_.query_text("SELECT value FROM meta WHERE key = 'schema_version'");
    if (!v) return v.error();
    version_ = *v ? std::atoi((*v)->c_str()) : 0;
  }
  if (version_ > kSchemaVersion)
    return Error{0, fmt::format("ledger {} has schema version {}, newer than this sanwatch "
                                "understands ({}): use the sanwatch that wrote it, or a newer one",
                                db_.path(), version_, kSchemaVersion)};
  if (access == Access::kReadOnly) {
    if (version_ < kSchemaVersion)
      return Error{0, fmt::format("ledger {} has schema version {} (this sanwatch writes {}): "
                                  "not a sanwatch ledger, or one to migrate read-write first",
                                  db_.path(), version_, kSchemaVersion)};
    return {};
  }
  // WAL: readers (`sanwatch report`) never block the writer. FULL: a
  // committed row survives a power loss (WAL with NORMAL may lose the last).
  // journal_size_limit: a checkpoint truncates the WAL back to 4 MiB (it
  // would otherwise keep its largest size, a day's compaction, for good).
  // persist_wal: `sanwatch report` by group sanwatch after a stop.
  if (auto st = db_.persist_wal(); !st) return st;
  if (auto st = db_.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                         "PRAGMA journal_size_limit = 4194304");
      !st)
    return st;
  if (version_ != kSchemaVersion) {
    // Migrations from older versions go here, one step each; 0 is a new file.
    SqliteDb::Transaction tx(db_);
    if (auto st = tx.begin(); !st) return st;
    if (auto st = db_.exec(kSchemaV1); !st) return st;
    auto put = db_.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)");
    if (!put) return put.error();
    if (auto st = put->bind(1, std::to_string(kSchemaVersion)).run(); !st) return st;
    if (auto st = tx.commit(); !st) return st;
    version_ = kSchemaVersion;
  }
  // Derived tables (caches rebuilt from the chains, not evidence): every
  // read-write open creates them if missing, so older files gain them and
  // older sanwatch versions, which never look at them, read newer files.
  return create_latency_hours(db_);
}

Result<std::optional<LedgerRow>> LedgerStore::head(const std::string& chain) {
  auto st = db_.prepare(std::string(kSelectColumns) + "WHERE chain = ? ORDER BY seq DESC LIMIT 1");
  if (!st) return st.error();
  st->bind(1, chain);
  auto more = st->step();
  if (!more) return more.error();
  if (!*more) return std::optional<LedgerRow>();
  auto r = read_row(*st);
  if (!r) return r.error();
  return std::optional<LedgerRow>(std::move(r).value());
}

Status LedgerStore::append(std::vector<LedgerRow>& rows) {
  if (rows.empty()) return {};
  SqliteDb::Transaction tx(db_);
  if (auto st = tx.begin(); !st) return st;
  if (auto st = append_in_transaction(rows); !st) return st;
  return tx.commit();
}

Status LedgerStore::append_in_transaction(std::vector<LedgerRow>& rows) {
  std::map<std::string, std::pair<std::int64_t, std::string>> heads;  // chain -> seq, hash
  auto ins = db_.prepare(
      "INSERT INTO entries (chain, seq, kind, ts_ms, target, body, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!ins) return ins.error();
  for (LedgerRow& r : rows) {
    auto it = heads.find(r.chain);
    if (it == heads.end()) {
      auto h = head(r.chain);
      if (!h) return h.error();
      it = heads
               .emplace(r.chain, *h ? std::pair((*h)->seq, (*h)->hash)
                                    : std::pair(std::int64_t{0}, kGenesisHash))
               .first;
    }
    r.seq = it->second.first + 1;
    r.prev_hash = it->second.second;
    r.hash = chain_hash(r.prev_hash, canonical_json(r));
    it->second = {r.seq, r.hash};
    ins->reset();
    ins->bind(1, r.chain).bind(2, r.seq).bind(3, r.kind).bind(4, r.ts_ms).bind(5, r.target);
    ins->bind(6, r.body.dump()).bind(7, r.prev_hash).bind(8, r.hash);
    if (auto st = ins->run(); !st) return st;
  }
  return {};
}

Result<std::vector<LedgerRow>> LedgerStore::select(const std::string& chain,
                                                   const std::vector<std::string>& kinds,
                                                   std::int64_t from_ms, std::int64_t to_ms) {
  std::string sql = std::string(kSelectColumns) + "WHERE chain = ? AND ts_ms >= ? AND ts_ms < ?";
  if (!kinds.empty()) {
    sql += " AND kind IN (";
    for (std::size_t i = 0; i < kinds.size(); ++i) sql += i ? ", ?" : "?";
    sql += ")";
  }
  sql += " ORDER BY seq";
  auto st = db_.prepare(sql);
  if (!st) return st.error();
  st->bind(1, chain).bind(2, from_ms).bind(3, to_ms);
  for (std::size_t i = 0; i < kinds.size(); ++i) st->bind(static_cast<int>(i) + 4, kinds[i]);
  std::vector<LedgerRow> out;
  for (;;) {
    auto more = st->step();
    if (!more) return more.error();
    if (!*more) return out;
    auto r = read_row(*st);
    if (!r) return r.error();
    out.push_back(std::move(r).value());
  }
}

Status LedgerStore::for_each_range(const std::string& chain, std::int64_t from_seq,
                                   std::int64_t to_seq,
                                   const std::function<Status(const LedgerRow&)>& fn) {
  auto st = db_.prepare(std::string(kSelectColumns) +
                        "WHERE chain = ? AND seq >= ? AND seq < ? ORDER BY seq");
  if (!st) return st.error();
  st->bind(1, chain).bind(2, from_seq).bind(3, to_seq);
  for (;;) {
    auto more = st->step();
    if (!more) return more.error();
    if (!*more) return {};
    auto r = row_from_columns(st->text(0), st->int64(1), st->text(2), st->int64(3), st->text(4),
                              st->text(5), st->text(6), st->text(7));
    if (!r) {
      // A body that does not parse is a row that does not match.
      LedgerRow bad{st->text(0), st->int64(1), st->text(2), st->int64(3),
                    st->text(4), nullptr,      st->text(6), st->text(7)};
      if (auto s = fn(bad); !s) return s;
      continue;
    }
    if (auto s = fn(*r); !s) return s;
  }
}

Status LedgerStore::for_each(const std::string& chain,
                             const std::function<Status(const LedgerRow&)>& fn) {
  return for_each_range(chain, INT64_MIN, INT64_MAX, fn);
}

Result<std::int64_t> LedgerStore::count(const std::string& chain) {
  auto st = db_.prepare("SELECT COUNT(*) FROM entries WHERE chain = ?");
  if (!st) return st.error();
  st->bind(1, chain);
  auto more = st->step();
  if (!more) return more.error();
  return st->int64(0);
}

Result<std::int64_t> LedgerStore::first_kept(const std::string& chain, std::int64_t cutoff_ms) {
  // The oldest row at or after the cutoff. Rows are appended in time order
  // but not strictly, and a chain is only ever cut before some row.
  auto keep = db_.prepare("SELECT MIN(seq) FROM entries WHERE chain = ? AND ts_ms >= ?");
  if (!keep) return keep.error();
  keep->bind(1, chain).bind(2, cutoff_ms);
  if (auto more = keep->step(); !more) return more.error();
  auto h = head(chain);
  if (!h) return h.error();
  if (!*h) return std::int64_t{1};
  // The head row always stays: the next row's seq and prev_hash continue it.
  return keep->is_null(0) ? (*h)->seq : std::min(keep->int64(0), (*h)->seq);
}

Result<std::int64_t> LedgerStore::drop_before(const std::string& chain, std::int64_t first_keep,
                                              std::int64_t cutoff_ms, std::int64_t now_ms,
                                              const std::string& reason) {
  auto last = db_.prepare(
      "SELECT hash, (SELECT COUNT(*) FROM entries WHERE chain = ?1 AND "
      "seq < ?2) FROM entries WHERE chain = ?1 AND seq = ?2 - 1");
  if (!last) return last.error();
  last->bind(1, chain).bind(2, first_keep);
  auto found = last->step();
  if (!found) return found.error();
  if (!*found || last->int64(1) == 0) return std::int64_t{0};  // nothing before it
  const std::string pruned_hash = last->text(0);
  const std::int64_t n = last->int64(1);
  auto del = db_.prepare("DELETE FROM entries WHERE chain = ? AND seq < ?");
  if (!del) return del.error();
  if (auto st = del->bind(1, chain).bind(2, first_keep).run(); !st) return st.error();
  std::vector<LedgerRow> cp{LedgerRow{chain, 0, "checkpoint", now_ms, "",
                                      nlohmann::json{{"pruned_through_seq", first_keep - 1},
                                                     {"pruned_hash", pruned_hash},
                                                     {"pruned_rows", n},
                                                     {"cutoff_ms", cutoff_ms},
                                                     {"reason", reason}}}};
  if (auto st = append_in_transaction(cp); !st) return st.error();
  return n;
}

Result<std::int64_t> LedgerStore::prune(const std::string& chain, std::int64_t cutoff_ms,
                                        std::int64_t now_ms, const std::string& reason) {
  // Delete and checkpoint together: a crash leaves both or neither.
  SqliteDb::Transaction tx(db_);
  if (auto st = tx.begin(); !st) return st.error();
  auto keep = first_kept(chain, cutoff_ms);
  if (!keep) return keep.error();
  auto n = drop_before(chain, *keep, cutoff_ms, now_ms, reason);
  if (!n) return n.error();
  if (auto st = tx.commit(); !st) return st.error();
  return n;
}

}  // namespace sanwatch
