// SPDX-License-Identifier: Apache-2.0
// CSV for spreadsheets: raw numbers (ms, percent with full precision),
// times both as local RFC 3339 and as Unix ms, lists space-separated.
#include <fmt/format.h>

#include "report/format.h"
#include "report/period.h"
#include "report/render_util.h"

namespace sanwatch {
namespace {

using nlohmann::json;

// A field as CSV: strings as they are, numbers and booleans as JSON spells
// them, null and absent as empty.
std::string cell(const json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return "";
  if (it->is_string()) return csv_field(it->get<std::string>());
  if (it->is_array()) return csv_field(joined(*it, " "));
  return it->dump();
}

std::string row(const std::vector<std::string>& cells) {
  std::string out;
  for (std::size_t i = 0; i < cells.size(); ++i) out += (i ? "," : "") + cells[i];
  return out + "\r\n";
}

}  // namespace

std::string render_csv_incidents(const json& report) {
  std::string out = row({"start",
                         "end",
                         "start_ms",
                         "end_ms",
                         "duration_ms",
                         "host",
                         "target",
                         "target_type",
                         "array",
                         "worst_state",
                         "counted",
                         "down_ms_in_period",
                         "peak_oldest_ms",
                         "max_latency_ms",
                         "io_errors",
                         "canary_failures",
                         "paths",
                         "target_ports",
                         "closed_by",
                         "array_wide",
                         "id"});
  for (const json& inc : report.value("incidents", json::array())) {
    const json imp = inc.value("impairment", json::object());
    out += row({local_text(imp, "start_ms"),
                local_text(imp, "end_ms"),
                cell(imp, "start_ms"),
                cell(imp, "end_ms"),
                cell(imp, "duration_ms"),
                cell(inc, "host"),
                cell(inc, "target"),
                cell(inc, "target_type"),
                cell(inc, "array"),
                cell(inc, "worst_state"),
                cell(inc, "counted"),
                cell(inc, "down_ms_in_period"),
                cell(inc, "peak_oldest_ms"),
                cell(inc, "max_latency_ms"),
                cell(inc, "io_errors"),
                cell(inc, "canary_failures"),
                cell(inc, "paths"),
                cell(inc, "target_ports"),
                cell(inc, "closed_by"),
                inc.value("array_wide", false) ? "true" : "false",
                cell(inc, "id")});
  }
  return out;
}

std::string render_csv_summary(const json& report) {
  const json targets = report.value("targets", json::array());
  std::vector<std::string> head{
      "host",          "target",  "target_type",          "wwid",  "array",     "measured_ms",
      "unmeasured_ms", "down_ms", "availability_percent", "nines", "incidents", "meets_claim",
      "claim_proven"};
  // One column set per --latency-slo threshold, named by its ns.
  const json slos = targets.empty() ? json::array() : targets[0].value("latency", json::array());
  for (const json& l : slos)
    for (const char* f : {"share_under_percent", "minutes_met_percent", "met"})
      head.push_back(fmt::format("latency_{}ns_{}", l.value("threshold_ns", 0ULL), f));
  std::string out = row(head);
  for (const json& t : targets) {
    std::vector<std::string> r;
    for (std::size_t i = 0; i < 13; ++i) r.push_back(cell(t, head[i].c_str()));
    for (const json& l : t.value("latency", json::array()))
      for (const char* f : {"share_under_percent", "minutes_met_percent", "met"})
        r.push_back(cell(l, f));
    out += row(r);
  }
  // A merged report's fleet rows: one per array, all its hosts.
  for (const json& a : report.value("arrays", json::array())) {
    std::vector<std::string> r{csv_field(joined(a.value("hosts", json::array()), " ")),
                               cell(a, "array"),
                               "array-fleet",
                               "",
                               cell(a, "array"),
                               cell(a, "measured_ms"),
                               cell(a, "unmeasured_ms"),
                               cell(a, "down_ms"),
                               cell(a, "availability_percent"),
                               cell(a, "nines"),
                               cell(a, "incidents"),
                               cell(a, "meets_claim"),
                               cell(a, "claim_proven")};
    r.resize(head.size());
    out += row(r);
  }
  return out;
}

}  // namespace sanwatch
