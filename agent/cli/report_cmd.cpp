// SPDX-License-Identifier: Apache-2.0
#include "cli/report_cmd.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/clock.h"
#include "base/duration.h"
#include "ledger/ledger_store.h"
#include "report/accounting.h"
#include "report/fleet_report.h"
#include "report/format.h"
#include "report/ledger_reader.h"
#include "report/merge.h"

namespace sanwatch {
namespace {

int fail(int code, const std::string& what) {
  fmt::print(stderr, "sanwatch report: {}\n", what);
  return code;
}

// stdout, or the -o file (written whole, then renamed: a reader never sees
// half a report).
int emit(const std::string& text, const std::string& path) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : fail(kReportExitUsage, "cannot write to stdout");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) return fail(kReportExitUsage, fmt::format("cannot write {}", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(kReportExitUsage, errno_error(fmt::format("cannot write {}", path)).message());
  return 0;
}

Result<LedgerStore> open_ledger(const std::string& path) {
  std::error_code ec;
  // ec: a directory the user may not search (a 0750 state directory seen
  // from outside group sanwatch) is not a missing file.
  if (!std::filesystem::exists(path, ec))
    return Error{0, fmt::format("cannot read ledger {}: {}", path,
                                ec ? ec.message() : std::string("no such file"))};
  auto store = LedgerStore::open(path, LedgerStore::Access::kReadOnly);
  if (store) return store;
  std::string msg = fmt::format("cannot read ledger: {}", store.error().message());
  // SQLite reads a WAL-mode file through its -shm index, which it must be
  // able to create or map next to the file.
  if (geteuid() != 0 && (msg.find("unable to open") != std::string::npos ||
                         msg.find("readonly") != std::string::npos))
    msg +=
        " (a WAL-mode ledger needs its directory writable for SQLite's -shm file: run as "
        "root, or report on a copy in a directory of yours)";
  return Error{0, msg};
}

Result<nlohmann::json> read_report(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return errno_error(fmt::format("cannot read {}", path));
  std::stringstream s;
  s << f.rdbuf();
  auto j = nlohmann::json::parse(s.str(), nullptr, false);
  if (j.is_discarded()) return Error{0, fmt::format("{}: not JSON", path)};
  return j;
}

// --step: whole ms, at least 1 s, and not so fine that the period needs
// millions of points.
Result<std::int64_t> step_ms(const std::string& s, const Period& p) {
  const auto d = parse_duration(s);
  const std::int64_t ms = d ? d->count() / 1'000'000 : 0;
  if (!d || ms < 1000 || d->count() % 1'000'000 != 0)
    return Error{0, fmt::format("--step {}: use a duration of at least 1s, e.g. 60s", s)};
  if (p.length_ms() / ms > 1'000'000)
    return Error{0, fmt::format("--step {}: more than a million steps in the period; use a "
                                "larger step",
                                s)};
  return ms;
}

// Every request of the plan, answers fed in order; the first refusal ends it.
Status fetch(PromClient& client, FleetData& data, const std::vector<PromRequest>& requests) {
  for (const PromRequest& r : requests) {
    auto body = client.get(r.path, r.params);
    if (!body) return body.error();
    if (auto st = data.add(r, *body); !st) return st;
  }
  return {};
}

}  // namespace

int run_report_prometheus(const ReportArgs& a, const PromReportArgs& p) {
  auto opts = make_options(a, wall_ms());
  if (!opts) return fail(kReportExitUsage, opts.error().message());
  if (a.count_slow)
    return fail(kReportExitUsage,
                "--count-slow: the agents' down counters follow the ledger's default rule; "
                "slow incidents can be counted from a ledger only");
  auto selector = check_selector(p.selector);
  if (!selector) return fail(kReportExitUsage, selector.error().message());
  auto step = step_ms(p.step, opts->period);
  if (!step) return fail(kReportExitUsage, step.error().message());
  auto client = PromClient::make(p.client);
  if (!client) return fail(kReportExitUsage, client.error().message());
  if (p.client.insecure_skip_verify)
    fmt::print(stderr, "sanwatch report: warning: not verifying {}'s TLS certificate\n",
               client->shown_url());
  const FleetParams params{client->shown_url(), *selector, *step};
  const StepGrid grid = make_grid(opts->period, *step);
  FleetData data(grid, opts->slos.size());
  if (auto st = fetch(*client, data, fleet_requests(grid, params, opts->slos)); !st)
    return fail(kReportExitLedger,
                fmt::format("Prometheus: {}; no report made", st.error().message()));
  auto report = build_fleet_report(data, *opts, params);
  if (!report) return fail(kReportExitUsage, report.error().message());
  auto text = render_report(*report, a.format, a.by_given);
  if (!text) return fail(kReportExitUsage, text.error().message());
  return emit(*text, a.output);
}

int run_report(const ReportArgs& a) {
  auto opts = make_options(a, wall_ms());
  if (!opts) return fail(kReportExitUsage, opts.error().message());
  auto store = open_ledger(a.ledger);
  if (!store) return fail(kReportExitLedger, store.error().message());
  try {
    auto data = read_ledger(*store, opts->period, opts->slos);
    if (!data) return fail(kReportExitLedger, "reading ledger: " + data.error().message());
    auto report = build_report(*data, *opts);
    if (!report) return fail(kReportExitUsage, report.error().message());
    auto text = render_report(*report, a.format, a.by_given);
    if (!text) return fail(kReportExitUsage, text.error().message());
    return emit(*text, a.output);
  } catch (const nlohmann::json::exception& e) {
    // Rows are read defensively; this is a ledger shaped unlike docs/ledger.md.
    return fail(kReportExitLedger,
                fmt::format("ledger {}: unexpected row contents: {}", a.ledger, e.what()));
  }
}

int run_report_verify(const ReportArgs& a) {
  auto store = open_ledger(a.ledger);
  if (!store) return fail(kReportExitLedger, store.error().message());
  auto rep = verify_ledger(*store);
  if (!rep) return fail(kReportExitLedger, "verifying: " + rep.error().message());
  if (!rep->ok) {
    fmt::print("ledger {}: row {} does not match: {} ({} rows before it verified)\n", a.ledger,
               rep->first_bad, rep->why, rep->rows);
    return kReportExitMismatch;
  }
  fmt::print("ledger {}: {} rows verified, every chain intact\n", a.ledger, rep->rows);
  for (const auto& [chain, hash] : rep->heads) fmt::print("  {} head {}\n", chain, hash);
  return 0;
}

int run_report_merge(const ReportArgs& a) {
  std::vector<NamedReport> in;
  for (const std::string& f : a.merge_files) {
    auto j = read_report(f);
    if (!j) return fail(kReportExitUsage, j.error().message());
    in.push_back({f, std::move(j).value()});
  }
  try {
    auto merged = merge_reports(in, wall_ms());
    if (!merged) return fail(kReportExitUsage, merged.error().message());
    auto text = render_report(*merged, a.format, a.by_given);
    if (!text) return fail(kReportExitUsage, text.error().message());
    return emit(*text, a.output);
  } catch (const nlohmann::json::exception& e) {
    return fail(kReportExitUsage, fmt::format("merge: a report is shaped unlike "
                                              "sanwatch.report/v1: {}",
                                              e.what()));
  }
}

}  // namespace sanwatch
