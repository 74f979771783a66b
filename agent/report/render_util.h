// SPDX-License-Identifier: Apache-2.0
// Small pieces the text, Markdown and CSV renderings share: durations and
// percentages for people, aligned tables, local times of report fields.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sanwatch {

// "850 ms", "2.6 s", "17 s", "5 min 03 s", "14 h 02 min 17 s", "30 days",
// "31 d 01 h": smaller units are left out once they are all zero.
std::string human_ms(std::int64_t ms);
// Availability of the report: "99.99884 %" (digits enough to show its
// nines, truncated, never rounded up to a better figure), "-" if null.
std::string percent_text(const nlohmann::json& availability, const nlohmann::json& nines);
// A percentage field to two decimals, "-" if null.
std::string share_text(const nlohmann::json& percent);
// Nines to one decimal, truncated; "∞"; "-" if null.
std::string nines_text(const nlohmann::json& nines);
// Local time with offset of a *_ms field, "-" when absent.
std::string local_text(const nlohmann::json& obj, const char* key);
// Integer field as text, "-" when absent.
std::string int_text(const nlohmann::json& obj, const char* key);
// String array joined with `sep`.
std::string joined(const nlohmann::json& arr, const char* sep);
// Left-aligned columns, two spaces apart (widths in UTF-8 code points).
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows);
// One CSV field (RFC 4180 quoting when needed).
std::string csv_field(const std::string& s);
// Incident fields shared by every format: start, end, duration, target,
// array, worst state, peak outstanding age, max latency, errors, paths,
// ports, counted.
std::vector<std::string> incident_header();
std::vector<std::string> incident_cells(const nlohmann::json& inc);

// Rows of the report's sections, shared by text and Markdown.
using Rows = std::vector<std::vector<std::string>>;
std::vector<std::string> target_header();
Rows target_rows(const nlohmann::json& report);
std::vector<std::string> latency_header();
Rows latency_rows(const nlohmann::json& report);
// Weeks above baseline: one row per target and ISO week it was degraded in.
std::vector<std::string> baseline_header();
Rows baseline_rows(const nlohmann::json& report);
std::vector<std::string> array_header();
Rows array_rows(const nlohmann::json& report);  // merged reports
// "99.9999 % allows 2.6 s in 30 days"; empty without a claim.
std::string claim_text(const nlohmann::json& report);
// "measured 14 h 02 min 17 s down: not met" for a target (or array).
std::string claim_verdict(const nlohmann::json& target);
// "measured 30 days of 30 days; unmeasured 0 ms; 2 runs (1 ended uncleanly)".
std::string coverage_text(const nlohmann::json& report);
// "2026-10-01T00:00:00+02:00 .. 2026-11-01T00:00:00+01:00 (31 d 01 h)".
std::string period_text(const nlohmann::json& report);
// "db1, db2"
std::string hosts_text(const nlohmann::json& report);
// "Prometheus http://prom:9090 {job="sanwatch"}, step 60 s: cross-check of
// the per-host ledgers"; empty for a report from a ledger.
std::string source_text(const nlohmann::json& report);
// An array's name with its id when known ("3PARdata VV 2FF70002AC01F1A5"),
// "(unknown array)" when neither is.
std::string array_text(const nlohmann::json& array_or_target);

}  // namespace sanwatch
