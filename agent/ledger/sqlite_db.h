// SPDX-License-Identifier: Apache-2.0
// A thin RAII layer over SQLite's C API: a connection, prepared statements
// and transactions, with errors as values naming the file and the statement.
// Nothing more: the ledger's SQL stays readable in ledger_store.cpp.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sanwatch {

class SqliteStmt {
 public:
  SqliteStmt() = default;
  SqliteStmt(sqlite3_stmt* s, sqlite3* db) : s_(s), db_(db) {}

  // Bind by 1-based index; chainable.
  SqliteStmt& bind(int i, std::int64_t v);
  SqliteStmt& bind(int i, std::string_view v);
  SqliteStmt& bind_null(int i);
  // One step: true when a row is ready, false when done; errors as values.
  Result<bool> step();
  // Runs to completion (statements without rows).
  Status run();
  void reset();

  std::int64_t int64(int col) const { return sqlite3_column_int64(s_.get(), col); }
  std::string text(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(s_.get(), col) == SQLITE_NULL; }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> s_;
  sqlite3* db_ = nullptr;
};

class SqliteDb {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  static Result<SqliteDb> open(const std::string& path, Mode mode);

  // Statements without parameters, any number, separated by ';'.
  Status exec(std::string_view sql);
  Result<SqliteStmt> prepare(std::string_view sql);
  // The first column of the first row, if any.
  Result<std::optional<std::string>> query_text(std::string_view sql);
  Error error(const std::string& what) const;
  // Keep the -wal and -shm files when the last connection closes (SQLite
  // deletes them otherwise): a reader that may not create files in the
  // directory (group sanwatch, StateDirectoryMode=0750) can then still open
  // the WAL-mode file read-only after the agent stopped.
  Status persist_wal();
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_.get(); }

  // BEGIN IMMEDIATE .. COMMIT; rolls back unless committed.
  class Transaction {
   public:
    explicit Transaction(SqliteDb& db) : db_(db) {}
    ~Transaction() {
      if (open_) (void)db_.exec("ROLLBACK");
    }
    Status begin();
    Status commit();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

   private:
    SqliteDb& db_;
    bool open_ = false;
  };

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::string path_;
};

}  // namespace sanwatch
