// SPDX-License-Identifier: Apache-2.0
// The ledger's rows on read: a ledger file is evidence that travels (copied
// off a host, handed to a vendor, maybe tampered with), so `sanwatch report`
// and `report verify` must cope with any row contents. Each input is a set
// of rows, one per line: chain TAB seq TAB kind TAB ts_ms TAB target TAB
// body (JSON text, or anything). They go into a real ledger (SQLite, in
// memory, same schema) through SQL, bypassing the writer, and are then verified,
// read, accounted and rendered (by map or by array, in one of the five
// formats, chosen by the input's length).
#include <array>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "ledger/ledger_store.h"
#include "report/accounting.h"
#include "report/format.h"
#include "report/ledger_reader.h"

namespace {

using sanwatch::LedgerStore;

LedgerStore& store() {
  static LedgerStore* s = [] {
    // An in-memory database: the same SQL, schema and JSON1 functions
    // without a file (journal_mode=WAL quietly stays "memory").
    const std::string path = ":memory:";
    auto opened = LedgerStore::open(path);
    if (!opened) {
      std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), opened.error().message().c_str());
      std::abort();
    }
    auto* s = new LedgerStore(std::move(opened).value());
    // Nothing here needs to survive a crash: skip the fsyncs.
    if (!s->db().exec("PRAGMA synchronous = OFF")) std::abort();
    return s;
  }();
  return *s;
}

std::string_view field(std::string_view& line) {
  const auto tab = line.find('\t');
  const std::string_view f = line.substr(0, tab);
  line = tab == std::string_view::npos ? std::string_view{} : line.substr(tab + 1);
  return f;
}

void insert_rows(std::string_view text) {
  auto ins = store().db().prepare(
      "INSERT OR REPLACE INTO entries (chain, seq, kind, ts_ms, target, body, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!ins) std::abort();
  for (int n = 0; n < 64 && !text.empty(); ++n) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const std::string chain(field(line)), seq(field(line)), kind(field(line)), ts(field(line));
    const std::string target(field(line));
    ins->bind(1, chain).bind(2, std::strtoll(seq.c_str(), nullptr, 10)).bind(3, kind);
    ins->bind(4, std::strtoll(ts.c_str(), nullptr, 10)).bind(5, target).bind(6, line);
    ins->bind(7, std::string_view("")).bind(8, std::string_view(""));
    (void)ins->run();
  }
}

sanwatch::ReportOptions options() {
  sanwatch::ReportOptions o;
  o.period = {1793491200000, 1796083200000};  // November 2026, UTC
  o.claim = *sanwatch::parse_percent("99.9999");
  o.slos = {*sanwatch::parse_latency_slo("10ms:99.9"), *sanwatch::parse_latency_slo("100ms:99")};
  o.generated_ms = 1796083200000;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!store().db().exec("DELETE FROM entries")) std::abort();
  // One grouping and one format per input, picked by its length: all ten
  // renders of every input made this target ~1,100 inputs/s, too slow for
  // the long runs; over a run every pair is exercised alike.
  const char* const by = size % 2 ? "array" : "map";
  const char* const format = std::array{"text", "md", "json", "csv", "html"}[size / 2 % 5];
  insert_rows({reinterpret_cast<const char*>(data), size});
  (void)sanwatch::verify_ledger(store());
  static const sanwatch::ReportOptions opts = options();
  // report_cmd.cpp turns a json::exception into "ledger shaped unlike
  // docs/ledger.md" (exit 4); anything else escaping is a bug.
  try {
    auto d = sanwatch::read_ledger(store(), opts.period, opts.slos);
    if (!d) return 0;
    auto o = opts;
    o.by = by;
    if (auto report = sanwatch::build_report(*d, o))
      (void)sanwatch::render_report(*report, format, false);
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
