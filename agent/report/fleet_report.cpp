// SPDX-License-Identifier: Apache-2.0
#include "report/fleet_report.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "base/duration.h"
#include "ledger/ledger_row.h"
#include "report/accounting.h"
#include "report/fleet_steps.h"
#include "report/period.h"

namespace sanwatch {
namespace {

using nlohmann::json;

bool in_by(const std::string& by, const FleetRow& r) {
  if (by == "path") return r.key.target_type == "path";
  if (by == "device") return true;
  return r.lun();  // map and array
}

bool matches(const std::vector<std::string>& patterns, const std::vector<std::string>& names) {
  if (patterns.empty()) return true;
  for (const auto& p : patterns)
    for (const auto& n : names)
      if (!n.empty() && fnmatch(p.c_str(), n.c_str(), 0) == 0) return true;
  return false;
}

json claim_fields(const FleetCtx& c, std::int64_t measured, std::int64_t down) {
  const std::int64_t length = c.g.to_ms - c.g.from_ms;
  json j{{"measured_ms", measured}, {"unmeasured_ms", length - measured}, {"down_ms", down}};
  j["availability_percent"] = availability_percent_json(measured, down);
  j["nines"] = nines_json(measured, down);
  json meets, proven;
  if (c.o.claim) {
    const std::int64_t allowed = c.o.claim->complement_of(length);
    meets = down <= allowed;
    proven = down + length - measured <= allowed;
  }
  j["meets_claim"] = meets;
  j["claim_proven"] = proven;
  return j;
}

json latency_list(const FleetCtx& c, const std::vector<const FleetRow*>& members) {
  json out = json::array();
  for (std::size_t i = 0; i < c.o.slos.size(); ++i) out.push_back(fleet_latency(c, members, i));
  return out;
}

json target_json(const FleetCtx& c, const FleetRow& r, std::int64_t incidents) {
  json j{{"target", r.key.target},      {"target_type", r.key.target_type},
         {"host", r.key.instance},      {"wwid", r.label("wwid")},
         {"device", r.label("device")}, {"array", r.array},
         {"array_id", r.array_id},      {"incidents", incidents}};
  j.update(claim_fields(c, total(*r.measured), total(*r.down)));
  j["latency"] = latency_list(c, {&r});
  j["timeline"] = fleet_timeline(c, {&r});
  return j;
}

// One array across hosts: the `arrays` entry (and, for --by array, a row).
json array_json(const FleetCtx& c, const ArrayKey& key, const std::vector<const FleetRow*>& m,
                const std::vector<FleetIncident>& incidents) {
  const FleetArraySteps s = array_steps(c, m);
  std::set<std::string> hosts;
  json members = json::array();
  for (const FleetRow* r : m) {
    hosts.insert(r->key.instance);
    members.push_back(r->name());
  }
  std::int64_t n = 0, wide = 0;
  for (const FleetIncident& i : incidents)
    if (i.row->lun() && ArrayKey{i.row->array, i.row->array_id} == key) {
      ++n;
      wide += i.hosts.size() >= 2;
    }
  json j{{"array", key.array}, {"array_id", key.array_id},
         {"hosts", hosts},     {"targets", m.size()},
         {"members", members}, {"array_wide_down_ms", total(s.wide)},
         {"incidents", n},     {"array_wide_incidents", wide}};
  j.update(claim_fields(c, total(s.measured), total(s.down)));
  j["latency"] = latency_list(c, m);
  j["timeline"] = fleet_timeline(c, m);
  return j;
}

json rules_json() {
  json states = json::array();
  for (std::string_view s : kDownStates) states.push_back(s);
  return {{"down_states", states},
          {"count_slow", false},
          {"down",
           "Down is what the agents' sanwatch_target_down_seconds_total counters grew by (the "
           "ledger's rule: the impairment of incidents whose worst state is stalled, failed, down, "
           "gone or flapping), summed per step from the raw counters (resets: a restart counts "
           "from zero); per array, per step, the most any of its LUNs on any host was down."},
          {"unmeasured",
           "Time no agent's counters grew (no scrape, no agent) is unmeasured and never counted as "
           "up: availability is over measured time, and a claim is proven only when down plus "
           "unmeasured time fits what it allows."}};
}

json coverage_json(const FleetCtx& c) {
  std::vector<const FleetRow*> all;
  for (const FleetRow& r : c.rows) all.push_back(&r);
  const std::vector<std::int64_t> m = step_max(c, all, &FleetRow::measured);
  json gaps = json::array(), hosts = json::object();
  for (const Span& g : gap_spans(c, m)) gaps.push_back({{"start_ms", g.start}, {"end_ms", g.end}});
  std::map<std::string, std::vector<const FleetRow*>> by_host;
  for (const FleetRow* r : all) by_host[r->key.instance].push_back(r);
  for (const auto& [h, rows] : by_host) hosts[h] = total(step_max(c, rows, &FleetRow::measured));
  const std::int64_t measured = total(m);
  return {{"measured_ms", measured},
          {"unmeasured_ms", c.g.to_ms - c.g.from_ms - measured},
          {"runs", json::array()},
          {"gaps", gaps},
          {"measured_ms_by_host", hosts}};
}

json header_json(const FleetCtx& c) {
  const Period p{c.g.from_ms, c.g.to_ms};
  std::set<std::string> hosts;
  for (const FleetRow& r : c.rows) hosts.insert(r.key.instance);
  json j{{"schema", kReportSchema},
         {"generated", format_utc(c.o.generated_ms)},
         {"hosts", hosts},
         {"source",
          {{"kind", "prometheus"},
           {"url", c.p.url},
           {"selector", c.p.selector},
           {"step_ms", c.g.step_ms},
           {"note", kFleetNote},
           {"queries", fleet_queries(c.p, c.o.slos)}}},
         {"ledger", {{"path", ""}, {"heads", json::object()}}},
         {"period", period_json(p)},
         {"rules", rules_json()}};
  j["claim"] = claim_json(c.o.claim, p);
  std::set<std::uint64_t> slos;
  for (const LatencySlo& s : c.o.slos) slos.insert(s.threshold_ns);
  j["latency_slos_ns"] = slos;
  j["coverage"] = coverage_json(c);
  j["by"] = c.o.by;
  return j;
}

Status check_slos(const FleetData& d, const ReportOptions& o) {
  for (std::size_t i = 0; i < o.slos.size(); ++i)
    if (!d.slo_seen(i))
      return Error{0, fmt::format("--latency-slo {}: no agent exports "
                                  "sanwatch_io_latency_over_threshold_total{{threshold_seconds="
                                  "\"{}\"}} in the period; the agent counts I/Os over the "
                                  "thresholds in [ledger] latency_slos of its config",
                                  o.slos[i].text, threshold_label(o.slos[i].threshold_ns))};
  return {};
}

// The rows (--by, --target) and the arrays, in the report's order.
void add_rows(json& j, const FleetCtx& c, const std::vector<FleetIncident>& incidents) {
  std::map<ArrayKey, std::vector<const FleetRow*>> arrays;
  for (const FleetRow& r : c.rows)  // as the rules: LUNs of a known array
    if (r.lun() && !r.array.empty()) arrays[{r.array, r.array_id}].push_back(&r);
  j["targets"] = json::array();
  j["arrays"] = json::array();
  for (const auto& [key, m] : arrays) {
    std::vector<std::string> names = {key.array, key.array_id};
    for (const FleetRow* r : m) names.push_back(r->key.target);
    if (!matches(c.o.targets, names)) continue;
    json a = array_json(c, key, m, incidents);
    if (c.o.by == "array") {
      json row = a;
      row["target"] = key.display();
      row["target_type"] = "array";
      row["host"] = "";
      j["targets"].push_back(std::move(row));
    }
    j["arrays"].push_back(std::move(a));
  }
  if (c.o.by == "array") return;
  for (const FleetRow& r : c.rows) {
    if (!in_by(c.o.by, r) ||
        !matches(c.o.targets, {r.key.target, r.label("wwid"), r.array, r.array_id}))
      continue;
    std::int64_t n = 0;
    for (const FleetIncident& i : incidents) n += i.row == &r;
    j["targets"].push_back(target_json(c, r, n));
  }
}

}  // namespace

Result<json> build_fleet_report(const FleetData& d, const ReportOptions& o, const FleetParams& p) {
  if (auto st = check_slos(d, o); !st) return st.error();
  const FleetCtx c(d, o, p);
  const std::vector<FleetIncident> incidents = find_incidents(c);
  json j = header_json(c);
  add_rows(j, c, incidents);
  std::set<std::string> shown;
  for (const json& t : j["targets"])
    for (const json& m : t.value("members", json::array({})))
      shown.insert(m.is_string() ? m.get<std::string>() : "");
  for (const json& t : j["targets"])
    if (t.value("target_type", "") != "array")
      shown.insert(t.value("host", "") + ":" + t.value("target", ""));
  j["incidents"] = json::array();
  for (const FleetIncident& i : incidents)
    if (shown.count(i.row->name())) j["incidents"].push_back(incident_json(c, i));
  return j;
}

}  // namespace sanwatch
