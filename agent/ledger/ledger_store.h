// SPDX-License-Identifier: Apache-2.0
// The ledger file: SQLite in WAL mode with synchronous=FULL, one table of
// hash-chained rows (ledger_row.h) plus views for people with the sqlite3
// CLI. Opening creates or migrates the schema and refuses a newer one.
// Used by the writer thread (read-write) and by `sanwatch report` (read-only,
// while the agent writes, or on a copied file).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ledger/ledger_row.h"
#include "ledger/sqlite_db.h"

namespace sanwatch {

class LedgerStore {
 public:
  static constexpr int kSchemaVersion = 1;
  enum class Access { kReadWrite, kReadOnly };
  static Result<LedgerStore> open(const std::string& path, Access access = Access::kReadWrite);

  // Appends rows in one transaction: assigns each its seq, prev_hash and
  // hash, continuing its chain.
  Status append(std::vector<LedgerRow>& rows);
  Result<std::optional<LedgerRow>> head(const std::string& chain);
  // Rows of a chain in seq order; kinds empty = all; ts_ms in [from, to).
  Result<std::vector<LedgerRow>> select(const std::string& chain,
                                        const std::vector<std::string>& kinds, std::int64_t from_ms,
                                        std::int64_t to_ms);
  // Every row of a chain in seq order, one at a time (verify, export).
  Status for_each(const std::string& chain, const std::function<Status(const LedgerRow&)>& fn);
  // The same for seq in [from, to).
  Status for_each_range(const std::string& chain, std::int64_t from_seq, std::int64_t to_seq,
                        const std::function<Status(const LedgerRow&)>& fn);
  Result<std::int64_t> count(const std::string& chain);
  // Drops the chain's oldest rows older than cutoff (the longest such prefix)
  // and appends a checkpoint row that carries the last dropped hash, so the
  // rest still verifies. Returns the number of rows dropped.
  Result<std::int64_t> prune(const std::string& chain, std::int64_t cutoff_ms, std::int64_t now_ms,
                             const std::string& reason);

  // The pieces of prune(), for callers that do more in the same transaction
  // (compaction): the first seq a prune at `cutoff_ms` keeps, and the delete
  // plus its checkpoint (no transaction).
  Result<std::int64_t> first_kept(const std::string& chain, std::int64_t cutoff_ms);
  Result<std::int64_t> drop_before(const std::string& chain, std::int64_t first_keep,
                                   std::int64_t cutoff_ms, std::int64_t now_ms,
                                   const std::string& reason);
  Status append_in_transaction(std::vector<LedgerRow>& rows);
  int schema_version() const { return version_; }
  SqliteDb& db() { return db_; }

 private:
  explicit LedgerStore(SqliteDb db) : db_(std::move(db)) {}
  Status create_or_migrate(Access access);
  SqliteDb db_;
  int version_ = 0;
};

// The result of recomputing every chain.
struct VerifyReport {
  bool ok = true;
  std::int64_t rows = 0;
  std::string first_bad;  // "events #412 (incident, 2026-12-04T10:00:00.123Z)"
  std::string why;        // what does not match
  std::vector<std::pair<std::string, std::string>> heads;  // chain -> head hash
};
Result<VerifyReport> verify_ledger(LedgerStore& store);

// Row parsed back from its columns (the body from JSON text).
Result<LedgerRow> row_from_columns(std::string chain, std::int64_t seq, std::string kind,
                                   std::int64_t ts_ms, std::string target, const std::string& body,
                                   std::string prev_hash, std::string hash);

}  // namespace sanwatch
