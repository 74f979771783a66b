// SPDX-License-Identifier: Apache-2.0
#include "report/accounting.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include "base/duration.h"
#include "ledger/ledger_row.h"
#include "report/timeline.h"

namespace sanwatch {
namespace {

using nlohmann::json;

// A row of the report's `targets`: one ledger target, or an array's LUNs.
struct Group {
  std::string name, type, wwid, array, array_id;
  std::vector<std::string> members;
};

// Everything computed once and shared by the per-target parts.
struct Ctx {
  const LedgerData& d;
  const ReportOptions& o;
  std::vector<RunRecord> runs;  // those overlapping the period
  Spans measured;
  std::vector<Incident> incidents;
  StateIndex states;
  std::string host;
};

bool is_lun(const TargetInfo& t) { return t.target_type != "path" && t.target_type != "port"; }

bool in_by(const std::string& by, const TargetInfo& t) {
  if (by == "path") return t.target_type == "path";
  if (by == "device") return true;
  return is_lun(t);  // map and array: maps and plain devices
}

bool matches(const std::vector<std::string>& patterns, const Group& g) {
  if (patterns.empty()) return true;
  std::vector<std::string> names = g.members;
  names.push_back(g.name);
  if (!g.wwid.empty()) names.push_back(g.wwid);
  for (const auto& p : patterns)
    for (const auto& n : names)
      if (fnmatch(p.c_str(), n.c_str(), 0) == 0) return true;
  return false;
}

// Targets with rows in the period or an incident in it, grouped per --by.
std::vector<Group> make_groups(const Ctx& c) {
  const ReportOptions& o = c.o;
  std::set<std::string> incident_targets;
  for (const Incident& i : c.incidents) incident_targets.insert(i.target);
  std::vector<Group> out;
  std::map<std::string, Group> arrays;
  for (const auto& [label, t] : c.d.targets) {
    if (!in_by(o.by, t) || !(t.in_period || incident_targets.count(label))) continue;
    if (o.by != "array") {
      out.push_back(Group{label,
                          t.target_type.empty() ? "device" : t.target_type,
                          t.wwid,
                          t.array,
                          t.array_id,
                          {label}});
      continue;
    }
    // One array per (vendor product, array id): two arrays of one model
    // are two arrays; the id is in the name so readers can tell them apart.
    const std::string array = t.array.empty() ? "(unknown array)" : t.array;
    const std::string name = t.array_id.empty() ? array : array + " " + t.array_id;
    Group& g = arrays[name];
    g.name = name;
    g.array = array;
    g.array_id = t.array_id;
    g.type = "array";
    g.members.push_back(label);
  }
  for (auto& [name, g] : arrays) out.push_back(std::move(g));
  std::erase_if(out, [&](const Group& g) { return !matches(o.targets, g); });
  return out;
}

json span_body(Span s) {
  return {{"start_ms", s.start},
          {"end_ms", s.end},
          {"start", format_utc(s.start)},
          {"end", format_utc(s.end)},
          {"duration_ms", s.length()}};
}

// An incident_open whose incident never came: its impairment runs to its
// run's coverage end, its worst state is the worst its target reached in
// that run since the detection.
Incident from_open(const OpenRecord& o, const LedgerData& d, const StateIndex& states,
                   bool count_slow) {
  const auto run = std::find_if(d.runs.begin(), d.runs.end(),
                                [&](const RunRecord& r) { return r.run_id == o.run_id; });
  const std::int64_t end =
      run == d.runs.end() ? o.impairment_start_ms : std::max(run->end_ms, o.impairment_start_ms);
  std::string worst = o.state;
  if (const auto it = states.find({o.run_id, o.target}); it != states.end())
    for (const auto& [ts, to] : it->second)
      if (ts >= o.detected_ms && ts <= end && severity(to) > severity(worst)) worst = to;
  Incident inc{o.target,
               o.target_type,
               "",
               worst,
               {o.impairment_start_ms, end},
               {o.detected_ms, std::max(end, o.detected_ms)},
               counts_as_down(worst, count_slow)};
  if (const auto t = d.targets.find(o.target); t != d.targets.end()) {
    inc.array = t->second.array;
    inc.array_id = t->second.array_id;
  }
  inc.body = o.body;
  inc.body.erase("state");
  inc.body.erase("detected_ms");
  inc.body.erase("impairment_start_ms");
  inc.body["first_state"] = o.state;
  inc.body["worst_state"] = worst;
  inc.body["impairment"] = span_body(inc.impairment);
  inc.body["detection"] = span_body(inc.detection);
  inc.body["basis"] = "incident_open";
  inc.body["ongoing"] = true;
  inc.body["closed_by"] = run != d.runs.end() && run->end == "unclean" ? "unclean_end" : "open";
  inc.body["array"] = inc.array;
  if (!inc.array_id.empty()) inc.body["array_id"] = inc.array_id;
  return inc;
}

json latency_json(const Ctx& c, const Group& g, std::size_t i) {
  const LatencySlo& slo = c.o.slos[i];
  LatencyTally t;
  for (const std::string& m : g.members)
    if (const auto it = c.d.latency.find(m); it != c.d.latency.end() && i < it->second.size())
      t += it->second[i];
  const auto pct = [](std::uint64_t n, std::uint64_t d) {
    return d ? json(100.0 * static_cast<double>(n) / static_cast<double>(d)) : json();
  };
  json j{{"threshold_ns", slo.threshold_ns},
         {"target_percent", slo.target.value()},
         {"ios", t.ios},
         {"ios_over", t.over},
         {"minutes", t.minutes},
         {"minutes_met", t.met}};
  j["share_under_percent"] = pct(t.ios - t.over, t.ios);
  j["minutes_met_percent"] = pct(t.met, t.minutes);
  j["met"] = t.ios ? json(slo.target.at_most(static_cast<std::int64_t>(t.ios - t.over),
                                             static_cast<std::int64_t>(t.ios)))
                   : json();
  return j;
}

bool listed(const Incident& i, const Period& p) {
  const std::int64_t start = std::min(i.impairment.start, i.detection.start);
  const std::int64_t end = std::max(i.impairment.end, i.detection.end);
  return start < p.to_ms && (end > p.from_ms || (end == start && start >= p.from_ms));
}

// Down time of one incident within the period and the measured time.
std::int64_t down_in_period(const Ctx& c, const Incident& i) {
  return i.counted ? total_length(intersect(normalize({i.impairment}), c.measured)) : 0;
}

json target_json(const Ctx& c, const Group& g) {
  const std::set<std::string> members(g.members.begin(), g.members.end());
  Spans down;
  std::int64_t incidents = 0;
  for (const Incident& i : c.incidents) {
    if (!members.count(i.target)) continue;
    ++incidents;
    if (i.counted) down.push_back(i.impairment);
  }
  const std::int64_t measured = total_length(c.measured);
  const std::int64_t down_ms = total_length(intersect(normalize(std::move(down)), c.measured));
  const std::int64_t unmeasured = c.o.period.length_ms() - measured;
  json j{{"target", g.name},
         {"target_type", g.type},
         {"wwid", g.wwid},
         {"array", g.array},
         {"host", c.host},
         {"measured_ms", measured},
         {"unmeasured_ms", unmeasured},
         {"down_ms", down_ms},
         {"incidents", incidents}};
  if (!g.array_id.empty()) j["array_id"] = g.array_id;
  if (g.type == "array") j["members"] = g.members;
  j["availability_percent"] = availability_percent_json(measured, down_ms);
  j["nines"] = nines_json(measured, down_ms);
  json meets, proven;
  if (c.o.claim) {
    const std::int64_t allowed = c.o.claim->complement_of(c.o.period.length_ms());
    meets = down_ms <= allowed;
    proven = down_ms + unmeasured <= allowed;
  }
  j["meets_claim"] = meets;
  j["claim_proven"] = proven;
  j["latency"] = json::array();
  for (std::size_t i = 0; i < c.o.slos.size(); ++i) j["latency"].push_back(latency_json(c, g, i));
  j["timeline"] = timeline_json(g.members, c.runs, c.states, c.o.period);
  return j;
}

std::set<std::uint64_t> recorded_slos(const std::vector<RunRecord>& runs) {
  std::set<std::uint64_t> out;
  for (const RunRecord& r : runs) out.insert(r.latency_slos_ns.begin(), r.latency_slos_ns.end());
  return out;
}

Status check_slos(const ReportOptions& o, const std::set<std::uint64_t>& recorded) {
  for (const LatencySlo& slo : o.slos) {
    if (recorded.count(slo.threshold_ns)) continue;
    std::string names;
    for (std::uint64_t t : recorded)
      names += (names.empty() ? "" : ", ") + format_duration(Duration(t));
    return Error{0, fmt::format("--latency-slo {}: {} is not a threshold this ledger records for "
                                "the period ({}); the agent counts I/Os over the thresholds in "
                                "[ledger] latency_slos of its config",
                                slo.text, format_duration(Duration(slo.threshold_ns)),
                                names.empty() ? "none recorded" : "recorded: " + names)};
  }
  return {};
}

json rules_json(const ReportOptions& o) {
  json states = json::array();
  for (std::string_view s : kDownStates) states.push_back(s);
  if (o.count_slow) states.push_back("slow");
  return {{"down_states", states},
          {"count_slow", o.count_slow},
          {"down", fmt::format("Down is the union of the impairment spans of incidents whose worst "
                               "state is {}{}, clipped to the period and to measured time; an "
                               "incident_open without its incident counts until its run's last "
                               "sign of life.",
                               "stalled, failed, down, gone or flapping",
                               o.count_slow ? " (or slow: --count-slow)" : "")},
          {"unmeasured",
           "Time no agent run covered is unmeasured and never counted as up: "
           "availability is over measured time, and a claim is proven only when "
           "down plus unmeasured time fits what it allows."}};
}

json coverage_json(const Ctx& c) {
  json runs = json::array(), gaps = json::array();
  for (const RunRecord& r : c.runs)
    runs.push_back({{"run_id", r.run_id},
                    {"host", r.host},
                    {"start_ms", r.start_ms},
                    {"end_ms", r.end_ms},
                    {"end", r.end}});
  for (const Span& g : subtract({c.o.period.from_ms, c.o.period.to_ms}, c.measured))
    gaps.push_back({{"start_ms", g.start}, {"end_ms", g.end}});
  const std::int64_t measured = total_length(c.measured);
  return {{"measured_ms", measured},
          {"unmeasured_ms", c.o.period.length_ms() - measured},
          {"runs", runs},
          {"gaps", gaps}};
}

json header_json(const Ctx& c) {
  const Period& p = c.o.period;
  std::set<std::string> hosts;
  for (const RunRecord& r : c.runs)
    if (!r.host.empty()) hosts.insert(r.host);
  json heads = json::object();
  for (const auto& [chain, h] : c.d.heads) heads[chain] = h;
  json j{{"schema", kReportSchema},  {"generated", format_utc(c.o.generated_ms)},
         {"hosts", hosts},           {"ledger", {{"path", c.d.path}, {"heads", heads}}},
         {"period", period_json(p)}, {"rules", rules_json(c.o)}};
  j["claim"] = claim_json(c.o.claim, p);
  j["latency_slos_ns"] = recorded_slos(c.runs);
  j["coverage"] = coverage_json(c);
  j["by"] = c.o.by;
  return j;
}

}  // namespace

bool counts_as_down(std::string_view s, bool count_slow) {
  return is_down_state(s) || (count_slow && s == "slow");
}

std::vector<Incident> resolve_incidents(const LedgerData& d, bool count_slow) {
  const StateIndex states = index_states(d.states);
  std::vector<Incident> out;
  for (const IncidentRecord& r : d.incidents)
    out.push_back(Incident{r.target, r.target_type, r.array, r.worst_state, r.impairment,
                           r.detection, counts_as_down(r.worst_state, count_slow), r.body,
                           r.array_id});
  for (const OpenRecord& o : d.open_incidents) out.push_back(from_open(o, d, states, count_slow));
  std::stable_sort(out.begin(), out.end(), [](const Incident& a, const Incident& b) {
    return a.impairment.start < b.impairment.start;
  });
  return out;
}

Spans measured_spans(const std::vector<RunRecord>& runs, const Period& p) {
  Spans s;
  for (const RunRecord& r : runs)
    for (const Span& x :
         subtract({std::max(r.start_ms, p.from_ms), std::min(r.end_ms, p.to_ms)}, r.lost))
      s.push_back(x);
  return normalize(std::move(s));
}

json period_json(const Period& p) {
  return {{"from", format_local(p.from_ms)},
          {"to", format_local(p.to_ms)},
          {"from_ms", p.from_ms},
          {"to_ms", p.to_ms},
          {"length_ms", p.length_ms()}};
}

json claim_json(const std::optional<Percent>& claim, const Period& p) {
  return claim ? json{{"percent", claim->value()},
                      {"allowed_down_ms", claim->complement_of(p.length_ms())}}
               : json();
}

json availability_percent_json(std::int64_t measured, std::int64_t down) {
  if (measured <= 0) return nullptr;
  return 100.0 * static_cast<double>(measured - down) / static_cast<double>(measured);
}

json nines_json(std::int64_t measured, std::int64_t down) {
  if (measured <= 0) return nullptr;
  if (down <= 0) return "∞";
  return -std::log10(static_cast<double>(down) / static_cast<double>(measured));
}

Result<json> build_report(const LedgerData& d, const ReportOptions& o) {
  Ctx c{d, o, {}, {}, {}, index_states(d.states), ""};
  const Period& p = o.period;
  for (const RunRecord& r : d.runs)
    if (r.start_ms < p.to_ms && r.end_ms > p.from_ms) c.runs.push_back(r);
  if (auto st = check_slos(o, recorded_slos(c.runs.empty() ? d.runs : c.runs)); !st)
    return st.error();
  c.measured = measured_spans(c.runs, p);
  c.host = !c.runs.empty() ? c.runs.back().host : d.runs.empty() ? "" : d.runs.back().host;
  for (Incident& i : resolve_incidents(d, o.count_slow))
    if (listed(i, p)) c.incidents.push_back(std::move(i));
  json j = header_json(c);
  j["targets"] = json::array();
  std::set<std::string> shown;
  for (const Group& g : make_groups(c)) {
    j["targets"].push_back(target_json(c, g));
    shown.insert(g.members.begin(), g.members.end());
  }
  j["incidents"] = json::array();
  for (const Incident& i : c.incidents) {
    if (!shown.count(i.target)) continue;
    json b = i.body;
    b["target"] = i.target;
    b["counted"] = i.counted;
    b["down_ms_in_period"] = down_in_period(c, i);
    j["incidents"].push_back(std::move(b));
  }
  j["baseline"] = weeks_above_baseline(d.baseline, d.runs, p, c.host, o.targets);
  return j;
}

}  // namespace sanwatch
