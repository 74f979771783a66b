// SPDX-License-Identifier: Apache-2.0
#include "ledger/sqlite_db.h"

#include <fmt/format.h>

namespace sanwatch {
namespace {
// SQLite's extended codes map onto errno only loosely; keep the context
// (file, statement, SQLite's message) and errno where there is one.
int errno_of(sqlite3* db) {
  const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  if ((code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_CANTOPEN)
    return db ? sqlite3_system_errno(db) : 0;
  return 0;
}
}  // namespace

SqliteStmt& SqliteStmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(s_.get(), i, v);
  return *this;
}

SqliteStmt& SqliteStmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::bind_null(int i) {
  sqlite3_bind_null(s_.get(), i);
  return *this;
}

Result<bool> SqliteStmt::step() {
  const int rc = sqlite3_step(s_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error{errno_of(db_), fmt::format("sqlite: {} ({})", sqlite3_errmsg(db_),
                                          sqlite3_sql(s_.get()) ? sqlite3_sql(s_.get()) : "")};
}

Status SqliteStmt::run() {
  for (;;) {
    auto r = step();
    if (!r) return r.error();
    if (!*r) return {};
  }
}

void SqliteStmt::reset() {
  sqlite3_reset(s_.get());
  sqlite3_clear_bindings(s_.get());
}

std::string SqliteStmt::text(int col) const {
  const auto* p = sqlite3_column_text(s_.get(), col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(s_.get(), col)))
           : std::string();
}

Result<SqliteDb> SqliteDb::open(const std::string& path, Mode mode) {
  sqlite3* raw = nullptr;
  const int flags =
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb db;
  db.db_.reset(raw);
  db.path_ = path;
  if (rc != SQLITE_OK)
    return Error{errno_of(raw), fmt::format("opening ledger {}: {}", path,
                                            raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc))};
  sqlite3_extended_result_codes(raw, 1);
  // A reader meeting the writer's lock waits a little rather than failing.
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Error SqliteDb::error(const std::string& what) const {
  return Error{errno_of(db_.get()),
               fmt::format("ledger {}: {}: {}", path_, what, sqlite3_errmsg(db_.get()))};
}

Status SqliteDb::persist_wal() {
  int on = 1;
  const int rc = sqlite3_file_control(db_.get(), "main", SQLITE_FCNTL_PERSIST_WAL, &on);
  // SQLITE_NOTFOUND: no file to keep one beside (an in-memory database, as
  // the ledger fuzz target opens).
  if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND)
    return Error{0, fmt::format("ledger {}: keeping the WAL file (SQLITE_FCNTL_PERSIST_WAL): {}",
                                path_, sqlite3_errstr(rc))};
  return {};
}

Status SqliteDb::exec(std::string_view sql) {
  const std::string s(sql);
  if (sqlite3_exec(db_.get(), s.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
    return error(s.substr(0, 60));
  return {};
}

Result<SqliteStmt> SqliteDb::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr) !=
      SQLITE_OK)
    return error(std::string(sql.substr(0, 60)));
  return SqliteStmt(s, db_.get());
}

Result<std::optional<std::string>> SqliteDb::query_text(std::string_view sql) {
  auto st = prepare(sql);
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  if (!*row || st->is_null(0)) return std::optional<std::string>();
  return std::optional<std::string>(st->text(0));
}

Status SqliteDb::Transaction::begin() {
  if (auto st = db_.exec("BEGIN IMMEDIATE"); !st) return st;
  open_ = true;
  return {};
}

Status SqliteDb::Transaction::commit() {
  if (auto st = db_.exec("COMMIT"); !st) return st;
  open_ = false;
  return {};
}

}  // namespace sanwatch
