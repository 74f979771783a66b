// SPDX-License-Identifier: Apache-2.0
// The ledger file: hash chains that verify, and that name the first row an
// edit, a deletion or a bad prune broke.
#include "ledger/ledger_store.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "ledger/compaction.h"
#include "test_util.h"

using namespace sanwatch;

namespace {

LedgerRow row(const char* chain, const char* kind, std::int64_t ts, nlohmann::json body = {}) {
  if (body.is_null()) body = nlohmann::json::object();
  return LedgerRow{chain, 0, kind, ts, "", std::move(body)};
}

LedgerStore fresh(const std::string& path) {
  auto s = LedgerStore::open(path);
  REQUIRE(s);
  return std::move(s).value();
}

void sql(const std::string& path, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  INFO(msg);
  REQUIRE(rc == SQLITE_OK);
}

// Ten rows over two chains.
void fill(LedgerStore& s) {
  std::vector<LedgerRow> rows;
  for (int i = 0; i < 6; ++i)
    rows.push_back(row(kChainEvents, "state", 1000 + i, {{"n", i}, {"to", "stalled"}}));
  for (int i = 0; i < 4; ++i) rows.push_back(row(kChainMinutes, "alive", 60000 * i, {{"n", i}}));
  REQUIRE(s.append(rows));
  CHECK(rows[0].seq == 1);
  CHECK(rows[0].prev_hash == kGenesisHash);
  CHECK(rows[1].prev_hash == rows[0].hash);
  CHECK(rows[6].seq == 1);  // the minutes chain starts its own count
}

}  // namespace

TEST_CASE("ledger: appended rows chain and verify") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  auto s = fresh(path);
  fill(s);
  auto rep = verify_ledger(s);
  REQUIRE(rep);
  CHECK(rep->ok);
  CHECK(rep->rows == 10);
  REQUIRE(rep->heads.size() == 2);
  // A second writer session continues the chain.
  auto s2 = fresh(path);
  std::vector<LedgerRow> more{row(kChainEvents, "stop", 2000)};
  REQUIRE(s2.append(more));
  CHECK(more[0].seq == 7);
  CHECK(verify_ledger(s2)->ok);
  CHECK(s2.schema_version() == LedgerStore::kSchemaVersion);
}

TEST_CASE("ledger: a row changed with SQL is named by verify") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  {
    auto s = fresh(path);
    fill(s);
  }
  sql(path,
      "UPDATE entries SET body = '{\"n\":3,\"to\":\"ok\"}' WHERE chain = 'events' AND seq = 4");
  auto s = fresh(path);
  auto rep = verify_ledger(s);
  REQUIRE(rep);
  CHECK_FALSE(rep->ok);
  CHECK(rep->first_bad.rfind("events #4 (state", 0) == 0);
  CHECK(rep->why.find("changed") != std::string::npos);
}

TEST_CASE("ledger: a changed column beside the body, a deleted row, a rehashed row") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  {
    auto s = fresh(path);
    fill(s);
  }
  SECTION("ts_ms moved") {
    sql(path, "UPDATE entries SET ts_ms = 5 WHERE chain = 'events' AND seq = 2");
    auto s = fresh(path);
    CHECK(verify_ledger(s)->first_bad.rfind("events #2", 0) == 0);
  }
  SECTION("a row deleted") {
    sql(path, "DELETE FROM entries WHERE chain = 'events' AND seq = 3");
    auto s = fresh(path);
    auto rep = verify_ledger(s);
    CHECK(rep->first_bad.rfind("events #4", 0) == 0);
    CHECK(rep->why.find("#3..#3 are missing") != std::string::npos);
  }
  SECTION("the oldest rows deleted without a checkpoint") {
    sql(path, "DELETE FROM entries WHERE chain = 'minutes' AND seq < 3");
    auto s = fresh(path);
    CHECK(verify_ledger(s)->first_bad.rfind("minutes #3", 0) == 0);
  }
  SECTION("body not JSON") {
    sql(path, "UPDATE entries SET body = 'x' WHERE chain = 'minutes' AND seq = 2");
    auto s = fresh(path);
    auto rep = verify_ledger(s);
    CHECK(rep->first_bad.rfind("minutes #2", 0) == 0);
    CHECK(rep->why.find("not valid JSON") != std::string::npos);
  }
}

TEST_CASE("ledger: pruning keeps the rest verifiable through a checkpoint") {
  test::TempDir dir;
  auto s = fresh(dir.path() + "/l.db");
  fill(s);
  auto n = s.prune(kChainEvents, 1003, 9000, "retention");
  REQUIRE(n);
  CHECK(*n == 3);
  CHECK(s.count(kChainEvents).value() == 4);  // 3 kept + the checkpoint
  auto rep = verify_ledger(s);
  REQUIRE(rep);
  INFO(rep->first_bad << ": " << rep->why);
  CHECK(rep->ok);
  // Pruning everything old keeps the head, so the chain continues.
  REQUIRE(s.prune(kChainMinutes, 1'000'000, 9000, "retention"));
  auto head = s.head(kChainMinutes);
  REQUIRE(*head);
  CHECK((*head)->kind == "checkpoint");
  CHECK((*head)->seq == 5);
  CHECK(verify_ledger(s)->ok);
}

TEST_CASE("ledger: a newer schema is refused, a foreign file is not read") {
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  { fresh(path); }
  sql(path, "UPDATE meta SET value = '7' WHERE key = 'schema_version'");
  auto s = LedgerStore::open(path);
  REQUIRE_FALSE(s);
  CHECK(s.error().message().find("schema version 7, newer") != std::string::npos);
  sql(dir.path() + "/other.db", "CREATE TABLE t (x)");
  auto ro = LedgerStore::open(dir.path() + "/other.db", LedgerStore::Access::kReadOnly);
  REQUIRE_FALSE(ro);
  CHECK(ro.error().message().find("not a sanwatch ledger") != std::string::npos);
}

TEST_CASE("ledger: the hash is SHA-256 of prev_hash and the canonical row") {
  LedgerRow r{kChainEvents, 1, "start", 5, "", {{"b", 1}, {"a", "x"}}};
  CHECK(
      canonical_json(r) ==
      R"({"body":{"a":"x","b":1},"chain":"events","kind":"start","seq":1,"target":"","ts_ms":5})");
  // sha256("") — the well-known empty digest.
  CHECK(chain_hash("", "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("ledger: old minute rows become hour rows, and both chains still verify") {
  test::TempDir dir;
  auto s = fresh(dir.path() + "/l.db");
  constexpr std::int64_t kH = 1764842400000;  // an hour boundary
  std::vector<LedgerRow> rows;
  auto minute = [&](std::int64_t at, std::int64_t ios, std::int64_t over, std::int64_t stalled) {
    nlohmann::json states = {{"ok", 60000 - stalled}};
    if (stalled) states["stalled"] = stalled;
    rows.push_back(LedgerRow{kChainMinutes,
                             0,
                             "minute",
                             at,
                             "mpatha",
                             {{"minute_ms", at},
                              {"covered_ms", 60000},
                              {"state_ms", states},
                              {"impaired_ms", stalled},
                              {"ios", ios},
                              {"ios_over_ns", {{"10000000", over}}},
                              {"canary_probes", 60},
                              {"canary_failures", 0},
                              {"wwid", "w1"},
                              {"target_type", "map"}}});
  };
  minute(kH, 1000, 0, 0);              // 100 % under
  minute(kH + 60000, 1000, 5, 0);      // 99.5 %
  minute(kH + 120000, 100, 50, 3000);  // 50 %
  minute(kH + 180000, 0, 0, 0);        // no I/O
  minute(kH + 3'600'000, 10, 0, 0);    // next hour: stays a minute row
  REQUIRE(s.append(rows));
  auto n = compact_minutes(s, kH + 3'600'000 + 1800'000, kH + 40 * 86'400'000LL);
  REQUIRE(n);
  CHECK(*n == 4);
  auto hours = s.select(kChainHours, {"hour"}, 0, INT64_MAX);
  REQUIRE(hours->size() == 1);
  const auto& h = (*hours)[0].body;
  CHECK((*hours)[0].ts_ms == kH);
  CHECK(h["minutes"] == 4);
  CHECK(h["minutes_with_io"] == 3);
  CHECK(h["ios"] == 2100);
  CHECK(h["ios_over_ns"]["10000000"] == 55);
  CHECK(h["state_ms"]["stalled"] == 3000);
  CHECK(h["state_ms"]["ok"] == 237000);
  CHECK(h["impaired_ms"] == 3000);
  CHECK(h["canary_probes"] == 240);
  CHECK(h["minutes_reaching"]["10000000"]["99"] == 2);
  CHECK(h["minutes_reaching"]["10000000"]["100"] == 1);
  CHECK(h["minutes_reaching"]["10000000"]["90"] == 2);
  CHECK(h["wwid"] == "w1");
  CHECK(s.count(kChainMinutes).value() == 2);  // the next hour's minute + checkpoint
  auto rep = verify_ledger(s);
  INFO(rep->first_bad << ": " << rep->why);
  CHECK(rep->ok);
}

TEST_CASE("ledger: times in rows are UTC whatever the local zone") {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", "America/New_York", 1);
  tzset();
  CHECK(utc_ms(1764842400123) == "2025-12-04T10:00:00.123Z");
  CHECK(utc_ms(-1) == "1969-12-31T23:59:59.999Z");
  if (old)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}

TEST_CASE("ledger: compaction ends when only checkpoints are left before the cutoff") {
  test::TempDir dir;
  auto s = fresh(dir.path() + "/l.db");
  constexpr std::int64_t kH = 1764842400000;
  std::vector<LedgerRow> rows;
  for (int i = 0; i < 180; ++i)  // three hours of one target
    rows.push_back(LedgerRow{
        kChainMinutes, 0, "minute", kH + i * 60000, "sdb", {{"ios", 1}, {"covered_ms", 60000}}});
  REQUIRE(s.append(rows));
  // A cutoff after everything, checkpoints included (now < cutoff).
  std::int64_t total = 0, calls = 0;
  for (std::int64_t n;
       (n = compact_minutes(s, kH + 10 * 3'600'000, kH + 5 * 3'600'000).value()) > 0;)
    total += n, ++calls;
  CHECK(calls == 3);
  CHECK(total == 180);  // a checkpoint heads the chain by the last call
  CHECK(s.select(kChainHours, {"hour"}, 0, INT64_MAX)->size() == 3);
  CHECK(verify_ledger(s)->ok);
}

TEST_CASE(
    "ledger: the -wal and -shm files stay when the writer closes (read-only readers need them)") {
  // A reader that may not create files next to the ledger (group sanwatch in
  // a 0750 state directory) can open a WAL-mode file read-only only while
  // its -wal and -shm exist; SQLite deletes both when the last connection
  // closes unless told to keep them.
  test::TempDir dir;
  const std::string path = dir.path() + "/l.db";
  {
    auto s = fresh(path);
    std::vector<LedgerRow> rows{row(kChainEvents, "start", 1)};
    REQUIRE(s.append(rows));
  }
  CHECK(std::filesystem::exists(path + "-wal"));
  CHECK(std::filesystem::exists(path + "-shm"));
  // Not writable: as root this proves little (DAC does not apply), as
  // another user it is the operator's case.
  std::filesystem::permissions(
      dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  auto ro = LedgerStore::open(path, LedgerStore::Access::kReadOnly);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
  REQUIRE(ro);
  auto head = ro->head(kChainEvents);
  REQUIRE(head);
  REQUIRE(*head);
  CHECK((*head)->kind == "start");
}

TEST_CASE("ledger: an in-memory database opens (no WAL file to keep beside it)") {
  // The ledger fuzz target's store; SQLITE_FCNTL_PERSIST_WAL has no file
  // there and answers SQLITE_NOTFOUND, which must not fail the open.
  auto s = LedgerStore::open(":memory:");
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->db().exec("SELECT COUNT(*) FROM entries"));
}
