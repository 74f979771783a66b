// SPDX-License-Identifier: Apache-2.0
// The terminal rendering: a header of what was measured and how, then the
// availability table, claims, latency compliance, incidents and gaps.
#include <fmt/format.h>

#include "report/format.h"
#include "report/render_util.h"

namespace sanwatch {
namespace {

using nlohmann::json;

std::string heads_text(const json& ledger) {
  std::string out;
  const json heads_obj = ledger.value("heads", json::object());
  for (const auto& [chain, h] : heads_obj.items())
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", chain,
                       h.is_string() ? h.get<std::string>().substr(0, 16) : "?");
  return out.empty() ? "empty" : out;
}

std::string header(const json& r) {
  const json ledger = r.value("ledger", json::object());
  const std::string source = source_text(r);
  std::string out = fmt::format("sanwatch report: {}, by {}{}\n", hosts_text(r), r.value("by", ""),
                                !source.empty()        ? " (fleet)"
                                : r.contains("arrays") ? " (merged)"
                                                       : "");
  if (!source.empty()) out += fmt::format("  Source    {}\n", source);
  out += fmt::format("  Period    {}\n", period_text(r));
  out += fmt::format("  Coverage  {}\n", coverage_text(r));
  if (!ledger.value("path", "").empty())
    out +=
        fmt::format("  Ledger    {} (heads: {})\n", ledger.value("path", ""), heads_text(ledger));
  const json rules = r.value("rules", json::object());
  out += fmt::format("  Down      incidents whose worst state is {}; unmeasured time is never up\n",
                     joined(rules.value("down_states", json::array()), ", "));
  if (const std::string c = claim_text(r); !c.empty()) out += fmt::format("  Claim     {}\n", c);
  return out;
}

std::string claims(const json& r) {
  if (claim_text(r).empty()) return {};
  std::vector<std::vector<std::string>> rows;
  for (const json& t : r.value("targets", json::array()))
    rows.push_back({t.value("target", ""), claim_verdict(t)});
  for (const json& a : r.value("arrays", json::array()))
    rows.push_back({a.value("array", "") + " (fleet)", claim_verdict(a)});
  return "\nAgainst the claim\n" + table({"TARGET", "VERDICT"}, rows);
}

std::string gaps(const json& r) {
  const json g = r.value("coverage", json::object()).value("gaps", json::array());
  if (g.empty()) return {};
  std::vector<std::vector<std::string>> rows;
  for (const json& s : g)
    rows.push_back(
        {local_text(s, "start_ms"), local_text(s, "end_ms"),
         human_ms(s.value("end_ms", std::int64_t{0}) - s.value("start_ms", std::int64_t{0}))});
  return "\nUnmeasured (no agent run covered it; not counted as up)\n" +
         table({"FROM", "TO", "LENGTH"}, rows);
}

}  // namespace

std::string render_text(const json& r) {
  std::string out = header(r);
  out += "\nAvailability\n";
  const Rows targets = target_rows(r);
  out += targets.empty() ? (r.contains("source") ? "  no targets in Prometheus for this period\n"
                                                 : "  no targets in the ledger for this period\n")
                         : table(target_header(), targets);
  out += claims(r);
  if (const Rows a = array_rows(r); !a.empty())
    out += "\nArrays across hosts\n" + table(array_header(), a);
  if (const Rows l = latency_rows(r); !l.empty())
    out += "\nLatency compliance\n" + table(latency_header(), l);
  if (const Rows b = baseline_rows(r); !b.empty())
    out += "\nWeeks above baseline (latency drift; not counted as down)\n" +
           table(baseline_header(), b);
  const json incidents = r.value("incidents", json::array());
  out += fmt::format("\nIncidents ({})\n", incidents.size());
  Rows rows;
  for (const json& i : incidents) rows.push_back(incident_cells(i));
  out += rows.empty() ? "  none\n" : table(incident_header(), rows);
  out += gaps(r);
  return out;
}

}  // namespace sanwatch
