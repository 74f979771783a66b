// SPDX-License-Identifier: Apache-2.0
#include "report/merge.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "report/accounting.h"
#include "report/options.h"
#include "report/period.h"
#include "report/spans.h"

namespace sanwatch {
namespace {

using nlohmann::json;

std::int64_t i64(const json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::string str(const json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Span impairment_of(const json& inc) {
  const json imp = inc.value("impairment", json::object());
  return {i64(imp, "start_ms"), i64(imp, "end_ms")};
}

// What one host's report measured: its period minus its gaps.
Spans measured_of(const json& r) {
  const json p = r.value("period", json::object());
  Spans gaps;
  for (const json& g : r.value("coverage", json::object()).value("gaps", json::array()))
    gaps.push_back({i64(g, "start_ms"), i64(g, "end_ms")});
  return subtract({i64(p, "from_ms"), i64(p, "to_ms")}, normalize(std::move(gaps)));
}

Status check(const std::vector<NamedReport>& in) {
  if (in.empty()) return Error{0, "report merge: no reports given"};
  const json& first = in.front().report;
  for (const NamedReport& n : in) {
    const json& r = n.report;
    if (!r.is_object() || r.value("schema", "") != kReportSchema)
      return Error{0, fmt::format("{}: not a {} report (sanwatch report --format json)", n.name,
                                  kReportSchema)};
    if (r.contains("source"))
      return Error{0, fmt::format("{}: a fleet report from Prometheus (report --prometheus), "
                                  "already across hosts; merge the per-host ledger reports",
                                  n.name)};
    if (r.contains("arrays"))
      return Error{0,
                   fmt::format("{}: already a merged report; merge the per-host reports", n.name)};
    const bool slow = r.value("rules", json::object()).value("count_slow", false);
    if (slow != first.value("rules", json::object()).value("count_slow", false) ||
        r.value("by", "") != first.value("by", ""))
      return Error{0, fmt::format("{}: made with other rules than {} (--count-slow and --by must "
                                  "be the same in every report)",
                                  n.name, in.front().name)};
  }
  return {};
}

// An array is its (vendor product, array id): two arrays of one model are two.
std::pair<std::string, std::string> array_key(const json& j) {
  return {str(j, "array"), str(j, "array_id")};
}

// array_wide: another host saw an incident on the same array overlap it.
void flag_array_wide(json& incidents) {
  for (json& a : incidents) {
    bool wide = false;
    const Span sa = impairment_of(a);
    for (const json& b : incidents) {
      const Span sb = impairment_of(b);
      wide |= !str(a, "array").empty() && array_key(a) == array_key(b) &&
              str(a, "host") != str(b, "host") && sa.start < sb.end && sb.start < sa.end;
    }
    a["array_wide"] = wide;
  }
}

std::optional<double> claim_percent(const json& r) {
  const auto it = r.find("claim");
  if (it == r.end() || !it->is_object() || !it->contains("percent") ||
      !(*it)["percent"].is_number())
    return std::nullopt;
  return (*it)["percent"].get<double>();
}

// The claim all reports share, re-applied to the merged period; else null.
json merged_claim(const std::vector<NamedReport>& in, std::int64_t length) {
  const std::optional<double> c = claim_percent(in.front().report);
  for (const NamedReport& n : in)
    if (claim_percent(n.report) != c) return nullptr;
  // The JSON double's shortest spelling is the percentage as typed.
  auto p = c ? parse_percent(fmt::format("{}", *c)) : Result<Percent>(Error{});
  if (!p) return nullptr;
  return {{"percent", *c}, {"allowed_down_ms", p->complement_of(length)}};
}

struct ArrayAcc {
  std::set<std::string> hosts;
  std::int64_t targets = 0, incidents = 0, wide = 0;
  std::map<std::string, Spans> down;  // host -> down spans
};

json array_json(const std::pair<std::string, std::string>& key, ArrayAcc& a,
                const std::map<std::string, Spans>& measured, const json& claim,
                std::int64_t length) {
  Spans m, down;
  std::vector<Spans> per_host;
  for (const std::string& h : a.hosts) {
    const auto it = measured.find(h);
    if (it != measured.end()) m.insert(m.end(), it->second.begin(), it->second.end());
    Spans d = intersect(normalize(a.down[h]), it != measured.end() ? it->second : Spans{});
    down.insert(down.end(), d.begin(), d.end());
    per_host.push_back(std::move(d));
  }
  const std::int64_t mt = total_length(normalize(std::move(m)));
  const std::int64_t dt = total_length(normalize(std::move(down)));
  json j{{"array", key.first},
         {"hosts", a.hosts},
         {"targets", a.targets},
         {"measured_ms", mt},
         {"unmeasured_ms", length - mt},
         {"down_ms", dt},
         {"array_wide_down_ms", total_length(at_least(2, per_host))},
         {"incidents", a.incidents},
         {"array_wide_incidents", a.wide}};
  if (!key.second.empty()) j["array_id"] = key.second;
  j["availability_percent"] = availability_percent_json(mt, dt);
  j["nines"] = nines_json(mt, dt);
  const bool has = claim.is_object();
  const std::int64_t allowed = has ? claim.value("allowed_down_ms", std::int64_t{0}) : 0;
  j["meets_claim"] = has ? json(dt <= allowed) : json();
  j["claim_proven"] = has ? json(dt + length - mt <= allowed) : json();
  return j;
}

json arrays_json(const json& targets, const json& incidents,
                 const std::map<std::string, Spans>& measured, const json& claim,
                 std::int64_t length) {
  std::map<std::pair<std::string, std::string>, ArrayAcc> acc;
  for (const json& t : targets)
    if (!str(t, "array").empty()) {
      ArrayAcc& a = acc[array_key(t)];
      a.hosts.insert(str(t, "host"));
      ++a.targets;
    }
  for (const json& i : incidents) {
    if (str(i, "array").empty()) continue;
    ArrayAcc& a = acc[array_key(i)];
    a.hosts.insert(str(i, "host"));
    ++a.incidents;
    a.wide += i.value("array_wide", false);
    if (i.value("counted", false)) a.down[str(i, "host")].push_back(impairment_of(i));
  }
  json out = json::array();
  for (auto& [key, a] : acc) out.push_back(array_json(key, a, measured, claim, length));
  return out;
}

// The inputs side by side: hosts, period envelope, what each host measured.
struct Fleet {
  std::set<std::string> hosts;
  std::set<std::uint64_t> slos;
  std::int64_t from = INT64_MAX, to = INT64_MIN;
  std::map<std::string, Spans> measured;  // host -> measured spans
  json targets = json::array(), incidents = json::array(), runs = json::array(),
       sources = json::array(), baseline = json::array();
  std::string baseline_rule;

  void add(const NamedReport& n) {
    const json& r = n.report;
    const json p = r.value("period", json::object()), hs = r.value("hosts", json::array());
    from = std::min(from, i64(p, "from_ms"));
    to = std::max(to, i64(p, "to_ms"));
    for (const json& h : hs) hosts.insert(h.get<std::string>());
    for (const json& s : r.value("latency_slos_ns", json::array()))
      slos.insert(s.get<std::uint64_t>());
    Spans& m = measured[hs.empty() ? n.name : hs[0].get<std::string>()];
    const Spans mine = measured_of(r);
    m.insert(m.end(), mine.begin(), mine.end());
    m = normalize(std::move(m));
    for (const json& t : r.value("targets", json::array())) targets.push_back(t);
    for (const json& i : r.value("incidents", json::array())) incidents.push_back(i);
    const json drift = r.value("baseline", json::object());
    for (const json& t : drift.value("targets", json::array())) baseline.push_back(t);
    if (baseline_rule.empty()) baseline_rule = drift.value("rule", "");
    for (const json& x : r.value("coverage", json::object()).value("runs", json::array()))
      runs.push_back(x);
    sources.push_back({{"file", n.name},
                       {"hosts", hs},
                       {"ledger", r.value("ledger", json::object())},
                       {"generated", r.value("generated", "")},
                       {"period", p}});
  }

  json coverage() const {
    Spans all;
    for (const auto& [h, s] : measured) all.insert(all.end(), s.begin(), s.end());
    all = normalize(std::move(all));
    json gaps = json::array();
    for (const Span& g : subtract({from, to}, all))
      gaps.push_back({{"start_ms", g.start}, {"end_ms", g.end}});
    return {{"measured_ms", total_length(all)},
            {"unmeasured_ms", to - from - total_length(all)},
            {"runs", runs},
            {"gaps", gaps}};
  }
};

}  // namespace

Result<json> merge_reports(const std::vector<NamedReport>& in, std::int64_t generated_ms) {
  if (auto st = check(in); !st) return st.error();
  Fleet f;
  for (const NamedReport& n : in) f.add(n);
  flag_array_wide(f.incidents);
  std::stable_sort(f.incidents.begin(), f.incidents.end(), [](const json& a, const json& b) {
    return impairment_of(a).start < impairment_of(b).start;
  });
  const std::int64_t length = f.to - f.from;
  const json claim = merged_claim(in, length);
  const json& first = in.front().report;
  json j{{"schema", kReportSchema}, {"generated", format_utc(generated_ms)}, {"hosts", f.hosts}};
  j["ledger"] = {{"path", ""}, {"heads", json::object()}, {"merged_from", f.sources}};
  j["period"] = {{"from", format_local(f.from)},
                 {"to", format_local(f.to)},
                 {"from_ms", f.from},
                 {"to_ms", f.to},
                 {"length_ms", length}};
  j["rules"] = first.value("rules", json::object());
  j["claim"] = claim;
  j["latency_slos_ns"] = f.slos;
  j["coverage"] = f.coverage();
  j["by"] = first.value("by", "map");
  j["targets"] = f.targets;
  j["arrays"] = arrays_json(f.targets, f.incidents, f.measured, claim, length);
  j["incidents"] = f.incidents;
  j["baseline"] = {{"rule", f.baseline_rule}, {"targets", f.baseline}};
  return j;
}

}  // namespace sanwatch
