// SPDX-License-Identifier: Apache-2.0
// Markdown for tickets: the same sections as the text rendering, as
// tables (GitHub-flavoured), with the rules spelled out.
#include <fmt/format.h>

#include "report/format.h"
#include "report/render_util.h"

namespace sanwatch {
namespace {

using nlohmann::json;

std::string md_cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out.empty() ? " " : out;
}

std::string md_table(const std::vector<std::string>& header, const Rows& rows) {
  std::string out = "|";
  for (const auto& h : header) out += " " + md_cell(h) + " |";
  out += "\n|";
  for (std::size_t i = 0; i < header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& c : r) out += " " + md_cell(c) + " |";
    out += "\n";
  }
  return out;
}

std::string summary(const json& r) {
  const json rules = r.value("rules", json::object());
  const json ledger = r.value("ledger", json::object());
  Rows rows{{"Hosts", hosts_text(r)},          {"Period", period_text(r)},
            {"Coverage", coverage_text(r)},    {"Grouped by", r.value("by", "")},
            {"Down", rules.value("down", "")}, {"Unmeasured", rules.value("unmeasured", "")}};
  if (const std::string source = source_text(r); !source.empty())
    rows.insert(rows.begin(), {"Source", source});
  if (!ledger.value("path", "").empty()) {
    std::string heads;
    const json heads_obj = ledger.value("heads", json::object());
    for (const auto& [chain, h] : heads_obj.items())
      heads += fmt::format("{}{} `{}`", heads.empty() ? "" : ", ", chain,
                           h.is_string() ? h.get<std::string>() : "");
    rows.push_back(
        {"Ledger", fmt::format("`{}` (chain heads: {})", ledger.value("path", ""), heads)});
  }
  if (const std::string c = claim_text(r); !c.empty()) rows.push_back({"Claim", c});
  rows.push_back({"Schema", fmt::format("`{}`, generated {}", r.value("schema", ""),
                                        r.value("generated", ""))});
  return md_table({"", ""}, rows);
}

}  // namespace

std::string render_md(const json& r) {
  std::string out = fmt::format("# sanwatch report: {}\n\n{}", hosts_text(r), summary(r));
  out += "\n## Availability\n\n";
  Rows targets = target_rows(r);
  std::vector<std::string> head = target_header();
  if (!claim_text(r).empty()) {
    head.push_back("CLAIM");
    std::size_t i = 0;
    for (const json& t : r.value("targets", json::array()))
      targets[i++].push_back(claim_verdict(t));
  }
  out += !targets.empty()       ? md_table(head, targets)
         : r.contains("source") ? "No targets in Prometheus for this period.\n"
                                : "No targets in the ledger for this period.\n";
  if (const Rows a = array_rows(r); !a.empty())
    out += "\n## Arrays across hosts\n\n" + md_table(array_header(), a);
  if (const Rows l = latency_rows(r); !l.empty())
    out += "\n## Latency compliance\n\n" + md_table(latency_header(), l);
  if (const Rows b = baseline_rows(r); !b.empty())
    out += "\n## Weeks above baseline\n\nLatency drift, not counted as down: " +
           r.value("baseline", json::object()).value("rule", "") + "\n\n" +
           md_table(baseline_header(), b);
  const json incidents = r.value("incidents", json::array());
  out += fmt::format("\n## Incidents ({})\n\n", incidents.size());
  Rows rows;
  for (const json& i : incidents) rows.push_back(incident_cells(i));
  out += rows.empty() ? "None.\n" : md_table(incident_header(), rows);
  const json gaps = r.value("coverage", json::object()).value("gaps", json::array());
  if (!gaps.empty()) {
    Rows g;
    for (const json& s : gaps)
      g.push_back(
          {local_text(s, "start_ms"), local_text(s, "end_ms"),
           human_ms(s.value("end_ms", std::int64_t{0}) - s.value("start_ms", std::int64_t{0}))});
    out += "\n## Unmeasured time (never counted as up)\n\n" + md_table({"FROM", "TO", "LENGTH"}, g);
  }
  return out;
}

}  // namespace sanwatch
