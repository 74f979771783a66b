// SPDX-License-Identifier: Apache-2.0
// sanwatch: block-I/O latency watchdog for SAN-attached hosts.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "base/version.h"
#include "cli/hist_cmd.h"
#include "cli/paths_cmd.h"
#include "cli/report_cmd.h"
#include "cli/run_cmd.h"

namespace {

void add_hist(CLI::App& app, sanwatch::HistOptions& o) {
  auto* h = app.add_subcommand("hist", "Live block I/O latency histogram (like biolatency)");
  h->add_option(
      "-d,--device", o.devices,
      "Device to trace (sdb, dm-3, loop2, /dev/..., mpatha, /dev/mapper/mpatha, MAJ:MIN); "
      "repeatable; default: every disk");
  h->add_option("-o,--op", o.op, "Only this operation: read, write, flush, discard, other, all");
  h->add_option("-i,--interval", o.interval_s, "Print every SECONDS (default: once, at Ctrl-C)")
      ->check(CLI::PositiveNumber);
  h->add_option("-c,--count", o.count, "Stop after COUNT intervals")->check(CLI::PositiveNumber);
  h->add_flag("--device-time", o.device_time,
              "Issue-to-completion latency instead of queued-to-completion");
  h->add_flag("--json", o.json, "One JSON object per interval");
  h->add_flag("-v,--verbose", o.verbose, "Show libbpf's log");
  h->add_flag("--force-raw-tp", o.force_raw_tp, "Use the raw_tp fallback programs (testing)")
      ->group("");
  h->add_option("--sysfs-root", o.root, "Root holding sys/ and dev/ (testing)")
      ->default_val("/")
      ->group("");
  h->add_flag("--no-seed", o.no_seed,
              "Do not walk the tag tables for I/O outstanding at start (testing)")
      ->group("");
}

void add_run(CLI::App& app, sanwatch::RunOptions& o) {
  auto* r = app.add_subcommand("run", "Run the watchdog agent (the systemd service)");
  r->add_option("-c,--config", o.config_path, "TOML config file (default: the embedded default)");
  r->add_flag("-v,--verbose", o.verbose, "Show libbpf's log");
  r->add_option("--sysfs-root", o.root, "Root holding sys/ and dev/ (testing)")->group("");
  r->add_option("--inflight-slots", o.inflight_slots, "Initial BPF in-flight slots (testing)")
      ->group("");
}

void add_paths(CLI::App& app, sanwatch::PathsOptions& o) {
  auto* p = app.add_subcommand(
      "paths", "Multipath maps and paths with state and latency (works without the agent)");
  p->add_option("-i,--interval", o.interval_s, "Seconds of latency sampling (0: none)")
      ->check(CLI::NonNegativeNumber);
  p->add_flag("--json", o.json, "JSON output");
  p->add_option("--agent", o.agent_url,
                "The agent's /metrics URL for states and transitions (\"\" to skip)");
  p->add_flag("-v,--verbose", o.verbose, "Show libbpf's log");
  p->add_option("--sysfs-root", o.root, "Root holding sys/ and dev/ (testing)")->group("");
}

void add_check(CLI::App& app, std::string& path) {
  auto* c = app.add_subcommand("check-config",
                               "Validate a config file and print the effective configuration");
  c->add_option("file", path, "TOML config file (default: the embedded default)");
}

void add_report_outputs(CLI::App& c, sanwatch::ReportArgs& o) {
  c.add_option("--format", o.format, "text (default), md, json, csv or html")
      ->check(CLI::IsMember({"text", "md", "json", "csv", "html"}));
  c.add_option("-o,--output", o.output, "Write to FILE instead of stdout");
}

// The fleet report from the Prometheus HTTP API instead of the ledger.
void add_report_prometheus(CLI::App& r, sanwatch::PromReportArgs& p) {
  const char* g = "Fleet report from Prometheus (a cross-check of the per-host ledgers)";
  r.add_option("--prometheus", p.client.url,
               "Prometheus (Thanos, Mimir, VictoriaMetrics) base URL: per array across every "
               "host, from the agents' counters instead of the ledger")
      ->group(g);
  r.add_option("--selector", p.selector,
               "Label matchers added to every query, e.g. 'job=\"sanwatch\"'")
      ->group(g);
  r.add_option("--step", p.step, "Resolution of the timeline and the per-array maxima (60s)")
      ->group(g);
  r.add_option("--basic-auth", p.client.basic_auth,
               "USER:PASSWORD (visible to other users in ps: prefer --basic-auth-file)")
      ->group(g);
  r.add_option("--basic-auth-file", p.client.basic_auth_file, "File holding USER:PASSWORD")
      ->group(g);
  r.add_option("--bearer-token-file", p.client.bearer_token_file, "File holding a bearer token")
      ->group(g);
  r.add_option("--ca-file", p.client.ca_file, "CA certificates (PEM) to verify the server with")
      ->group(g);
  r.add_flag("--insecure-skip-verify", p.client.insecure_skip_verify,
             "Do not verify the server's TLS certificate")
      ->group(g);
  r.add_option("--timeout", p.client.timeout, "Per request (2m)")->group(g);
}

CLI::App* add_report(CLI::App& app, sanwatch::ReportArgs& o, sanwatch::PromReportArgs& p) {
  auto* r = app.add_subcommand(
      "report", "Availability, latency compliance and incidents from the evidence ledger");
  r->add_option("--ledger", o.ledger, "Ledger file (default /var/lib/sanwatch/ledger.db)");
  r->add_option("--from", o.from,
                "Period start: 2026-11-01, 2026-11-01T10:00, 2026-11-01 10:00, "
                "2026-11-01T10:00:00+01:00 (local time without an offset)");
  r->add_option("--to", o.to, "Period end, exclusive (default: now)");
  r->add_option("--month", o.month, "A calendar month in the local zone: YYYY-MM");
  r->add_option("--last", o.last, "The DURATION up to now, e.g. 30d, 12h (the default: 30d)");
  r->add_option("--by", o.by,
                "One row per map (maps and plain devices, the default), path, "
                "device (every target) or array")
      ->check(CLI::IsMember({"map", "path", "device", "array"}));
  r->add_option("--target", o.targets,
                "Only targets whose name, wwid or array matches PATTERN (glob); repeatable");
  r->add_option("--claim", o.claim, "Claimed availability in percent, e.g. 99.9999");
  r->add_option("--latency-slo", o.latency_slos,
                "DURATION:PERCENT, e.g. 10ms:99.9: share of I/Os within a threshold the agent "
                "records ([ledger] latency_slos); repeatable");
  r->add_flag("--count-slow", o.count_slow, "Count slow incidents as down too");
  add_report_outputs(*r, o);
  r->require_subcommand(0, 1);
  add_report_prometheus(*r, p);
  auto* v = r->add_subcommand(
      "verify",
      "Recompute the ledger's hash chains; exit 1 naming the first row that does not match");
  v->add_option("--ledger", o.ledger, "Ledger file (default /var/lib/sanwatch/ledger.db)");
  auto* m =
      r->add_subcommand("merge", "Combine per-host JSON reports into one fleet report, per array");
  m->add_option("files", o.merge_files, "Reports made with --format json")->required();
  add_report_outputs(*m, o);
  m->add_flag("--summary", o.by_given, "CSV: one row per target and array instead of incidents");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sanwatch: block-I/O latency watchdog for SAN-attached Linux hosts"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(sanwatch::kVersion));
  sanwatch::HistOptions hist;
  add_hist(app, hist);
  sanwatch::RunOptions run;
  add_run(app, run);
  std::string check_path;
  add_check(app, check_path);
  sanwatch::PathsOptions paths;
  add_paths(app, paths);
  sanwatch::ReportArgs report;
  sanwatch::PromReportArgs prom;
  CLI::App* report_cmd = add_report(app, report, prom);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (app.got_subcommand("hist")) return sanwatch::run_hist(hist);
  if (app.got_subcommand("run")) return sanwatch::run_agent(run);
  if (app.got_subcommand("check-config")) return sanwatch::check_config(check_path);
  if (app.got_subcommand("paths")) return sanwatch::run_paths(paths);
  if (report_cmd->parsed()) {
    if (report_cmd->got_subcommand("verify")) return sanwatch::run_report_verify(report);
    if (report_cmd->got_subcommand("merge")) return sanwatch::run_report_merge(report);
    report.by_given = report_cmd->get_option("--by")->count() > 0;
    if (!prom.client.url.empty()) {
      if (report_cmd->get_option("--ledger")->count() > 0) {
        fmt::print(stderr, "sanwatch report: give --ledger or --prometheus, not both\n");
        return sanwatch::kReportExitUsage;
      }
      return sanwatch::run_report_prometheus(report, prom);
    }
    return sanwatch::run_report(report);
  }
  return 2;
}
