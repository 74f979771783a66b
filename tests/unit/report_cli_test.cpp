// SPDX-License-Identifier: Apache-2.0
// `sanwatch report` as a command: the built binary on synthetic ledgers,
// its exit codes, `report verify` on a good and on a changed ledger,
// `report merge`, a copied ledger file and one the agent still has open.
#include <catch2/catch.hpp>
#include <filesystem>

#include "process.h"
#include "report_scenario.h"

using namespace sanwatch;
using namespace sanwatch::test;
using nlohmann::json;

namespace {

CommandResult sanwatch_report(std::vector<std::string> args) {
  args.insert(args.begin(), {SANWATCH_BIN, "report"});
  return run_command(args, std::chrono::seconds(30));
}

std::vector<std::string> scenario_flags(const std::string& ledger) {
  return {"--ledger", ledger, "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"};
}

}  // namespace

TEST_CASE("report command: json on a ledger the agent still has open (WAL)") {
  LedgerBuilder b;
  build_scenario(b);
  b.commit();  // the writer's connection stays open, rows in its WAL
  auto flags = scenario_flags(b.path());
  flags.insert(flags.end(), {"--format", "json", "--latency-slo", "10ms:99"});
  const auto r = sanwatch_report(flags);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["coverage"]["measured_ms"] == 21 * kHour);
  CHECK(j["targets"].size() == 2);
  CHECK(j["incidents"].size() == 5);
}

TEST_CASE("report command: a copied ledger file, every format, -o") {
  TempDir out("sanwatch-report-out");
  std::string copy = out.path() + "/copy.db";
  {
    LedgerBuilder b;
    build_scenario(b);
    b.commit();
    // The agent's file as a backup tool would copy it: WAL folded in first.
    REQUIRE(b.commit().db().exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    std::filesystem::copy_file(b.path(), copy);
  }
  for (const char* f : {"text", "md", "csv", "html"}) {
    auto flags = scenario_flags(copy);
    flags.insert(flags.end(), {"--format", f, "-o", out.path() + "/r." + f});
    const auto r = sanwatch_report(flags);
    INFO(f << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(slurp(out.path() + "/r." + f).empty());
  }
  CHECK_THAT(slurp(out.path() + "/r.text"), Catch::Contains("Incidents (5)"));
  auto flags = scenario_flags(copy);
  flags.insert(flags.end(), {"--format", "csv", "--by", "map"});
  const auto r = sanwatch_report(flags);
  CHECK_THAT(r.out, Catch::StartsWith("host,target,target_type"));
}

TEST_CASE("report command: exit codes 2 for bad input, 3 for an unreadable ledger") {
  LedgerBuilder b;
  build_scenario(b);
  b.commit();
  auto r = sanwatch_report({"--ledger", b.path(), "--from", "someday"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("bad time \"someday\""));
  r = sanwatch_report({"--ledger", b.path(), "--month", "2026-10", "--last", "7d"});
  CHECK(r.exit_code == 2);
  r = sanwatch_report({"--ledger", b.path(), "--by", "rack"});
  CHECK(r.exit_code == 2);
  auto flags = scenario_flags(b.path());
  flags.insert(flags.end(), {"--latency-slo", "20ms:99"});
  r = sanwatch_report(flags);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("recorded: 10ms, 100ms"));
  r = sanwatch_report({"--ledger", b.dir() + "/missing.db"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("missing.db: no such file"));
  // A ledger from a newer sanwatch is refused, naming the versions.
  REQUIRE(b.commit().db().exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'").ok());
  r = sanwatch_report({"--ledger", b.path()});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("schema version 2, newer than this sanwatch understands"));
}

TEST_CASE("report verify: 0 on a good ledger, 1 naming the row changed with SQL") {
  TzGuard tz("UTC");  // the child prints times; its zone comes from ours
  LedgerBuilder b;
  build_scenario(b);
  LedgerStore& store = b.commit();
  auto r = sanwatch_report({"verify", "--ledger", b.path()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("rows verified, every chain intact"));
  CHECK_THAT(r.out, Catch::Contains("events head " + store.head(kChainEvents).value()->hash));
  // Event 5 is the first incident: make it look shorter.
  REQUIRE(store.db()
              .exec("UPDATE entries SET body = replace(body, '\"worst_state\":\"stalled\"', "
                    "'\"worst_state\":\"slow\"') WHERE chain = 'events' AND seq = 5")
              .ok());
  r = sanwatch_report({"verify", "--ledger", b.path()});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.out, Catch::Contains("row events #5 (incident mpatha, 2026-10-31T23:30:00.000Z) "
                                    "does not match: its hash does not match its contents"));
  r = sanwatch_report({"verify", "--ledger", b.dir() + "/missing.db"});
  CHECK(r.exit_code == 3);
}

TEST_CASE("report merge command: json reports in, a fleet report out") {
  LedgerBuilder b;
  build_scenario(b);
  b.commit();
  TempDir out("sanwatch-report-merge");
  auto flags = scenario_flags(b.path());
  flags.insert(flags.end(), {"--format", "json", "-o", out.path() + "/db1.json"});
  REQUIRE(sanwatch_report(flags).exit_code == 0);
  auto r = sanwatch_report({"merge", out.path() + "/db1.json", "--format", "json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json m = json::parse(r.out);
  CHECK(m["arrays"][0]["array"] == "3PARdata VV");
  CHECK(m["arrays"][0]["down_ms"] == 120 * kMin);
  r = sanwatch_report({"merge", out.path() + "/nothing.json"});
  CHECK(r.exit_code == 2);
}
