// SPDX-License-Identifier: Apache-2.0
#include "report/fleet_steps.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "report/latency.h"
#include "report/period.h"
#include "report/timeline.h"

namespace sanwatch {
namespace {

using nlohmann::json;

std::string label_of(const PromLabels& l, const char* name) {
  const auto it = l.find(name);
  return it == l.end() ? std::string() : it->second;
}

json span_body(std::int64_t start, std::int64_t end) {
  return {{"start_ms", start},
          {"end_ms", end},
          {"start", format_utc(start)},
          {"end", format_utc(end)},
          {"duration_ms", end - start}};
}

// The worst state of a row over steps [first, last]; "unknown" when no
// state other than ok was scraped (e.g. the stall fell between scrapes).
std::string worst_state(const FleetRow& r, std::size_t first, std::size_t last) {
  int worst = 0;
  for (std::size_t k = first; k <= last; ++k)
    if (r.t->has_worst(k)) worst = std::max<int>(worst, r.t->worst[k]);
  return worst > 0 ? std::string(state_of_severity(worst)) : "unknown";
}

json identity_json(const FleetRow& r) {
  json id = json::object();
  for (const char* k :
       {"device", "dm_name", "wwid", "array", "array_vendor", "array_product", "array_id"})
    if (std::string v = r.label(k); !v.empty()) id[k] = v;
  return id;
}

// Each LUN incident's hosts: those with an incident on the same array in
// an overlapping run of steps (its own included).
void flag_hosts(std::vector<FleetIncident>& incidents) {
  std::map<ArrayKey, std::vector<FleetIncident*>> by_array;
  for (FleetIncident& i : incidents) {
    i.hosts.insert(i.row->key.instance);
    if (i.row->lun() && !i.row->array.empty())
      by_array[{i.row->array, i.row->array_id}].push_back(&i);
  }
  for (auto& [key, list] : by_array)
    for (FleetIncident* a : list)
      for (const FleetIncident* b : list)
        if (a->first <= b->last && b->first <= a->last) a->hosts.insert(b->row->key.instance);
}

}  // namespace

std::string ArrayKey::display() const {
  // As the ledger's --by array names its rows: two arrays of one model are
  // told apart by their id.
  const std::string name = array.empty() ? "(unknown array)" : array;
  return array_id.empty() ? name : name + " " + array_id;
}

std::string FleetRow::label(const char* name) const { return label_of(t->identity, name); }

FleetCtx::FleetCtx(const FleetData& data, const ReportOptions& opts, const FleetParams& params)
    : d(data), o(opts), p(params), g(data.grid()), zeros(g.steps() + 1, 0) {
  for (const auto& [key, t] : d.targets()) {
    const std::int64_t m = t.measured ? t.measured->total() : 0;
    const std::int64_t dn = t.down ? t.down->total() : 0;
    if (m <= 0 && dn <= 0) continue;
    FleetRow r{key, &t};
    r.array = label_of(t.identity, "array");
    r.array_id = label_of(t.identity, "array_id");
    r.measured = t.measured ? &t.measured->steps() : &zeros;
    r.down = t.down ? &t.down->steps() : &zeros;
    const auto dev = d.devices().find({key.instance, label_of(t.identity, "device")});
    if (dev != d.devices().end()) r.dev = &dev->second;
    rows.push_back(std::move(r));
  }
}

std::int64_t total(const std::vector<std::int64_t>& steps) {
  std::int64_t t = 0;
  for (std::int64_t x : steps) t += x;
  return t;
}

std::vector<std::int64_t> step_max(const FleetCtx& c, const std::vector<const FleetRow*>& rows,
                                   const std::vector<std::int64_t>* FleetRow::*field) {
  std::vector<std::int64_t> out(c.g.steps() + 1, 0);
  for (const FleetRow* r : rows) {
    const std::vector<std::int64_t>& v = *(r->*field);
    for (std::size_t k = 1; k < out.size() && k < v.size(); ++k) out[k] = std::max(out[k], v[k]);
  }
  return out;
}

Spans gap_spans(const FleetCtx& c, const std::vector<std::int64_t>& measured) {
  Spans gaps;
  for (std::size_t k = 1; k <= c.g.steps(); ++k)
    if (k >= measured.size() || measured[k] <= 0) gaps.push_back({c.g.at(k - 1), c.g.at(k)});
  return normalize(std::move(gaps));
}

FleetArraySteps array_steps(const FleetCtx& c, const std::vector<const FleetRow*>& members) {
  FleetArraySteps s{step_max(c, members, &FleetRow::measured),
                    step_max(c, members, &FleetRow::down),
                    std::vector<std::int64_t>(c.g.steps() + 1, 0)};
  std::map<std::string, std::vector<const FleetRow*>> by_host;
  for (const FleetRow* r : members) by_host[r->key.instance].push_back(r);
  std::vector<std::int64_t> top(c.g.steps() + 1, 0);
  for (const auto& [host, rows] : by_host) {
    const std::vector<std::int64_t> d = step_max(c, rows, &FleetRow::down);
    for (std::size_t k = 1; k < d.size(); ++k) {  // the two largest, multiset-wise
      if (d[k] > top[k]) {
        s.wide[k] = top[k];
        top[k] = d[k];
      } else if (d[k] > s.wide[k]) {
        s.wide[k] = d[k];
      }
    }
  }
  return s;
}

json fleet_timeline(const FleetCtx& c, const std::vector<const FleetRow*>& members) {
  json out = json::array();
  for (std::size_t k = 1; k <= c.g.steps(); ++k) {
    bool measured = false;
    int worst = 0;
    for (const FleetRow* r : members) {
      if ((*r->measured)[k] <= 0) continue;
      measured = true;
      if (r->t->has_worst(k)) worst = std::max<int>(worst, r->t->worst[k]);
    }
    const std::string_view state = measured ? state_of_severity(worst) : "unmeasured";
    if (!out.empty() && out.back()["state"] == state) {
      out.back()["end_ms"] = c.g.at(k);
      continue;
    }
    out.push_back({{"start_ms", c.g.at(k - 1)}, {"end_ms", c.g.at(k)}, {"state", state}});
  }
  return out;
}

json fleet_latency(const FleetCtx& c, const std::vector<const FleetRow*>& members,
                   std::size_t slo) {
  const LatencySlo& s = c.o.slos[slo];
  LatencyTally t;
  for (std::size_t k = 1; k <= c.g.steps(); ++k) {
    std::int64_t ios = 0, over = 0;
    for (const FleetRow* r : members) {
      if (r->dev == nullptr || !r->dev->ios) continue;
      ios += r->dev->ios->steps()[k];
      if (slo < r->dev->over.size() && r->dev->over[slo]) over += r->dev->over[slo]->steps()[k];
    }
    if (ios <= 0) continue;
    over = std::min(over, ios);
    t += LatencyTally{static_cast<std::uint64_t>(ios), static_cast<std::uint64_t>(over), 1,
                      s.target.at_most(ios - over, ios) ? 1u : 0u};
  }
  const auto pct = [](std::uint64_t n, std::uint64_t d) {
    return d ? json(100.0 * static_cast<double>(n) / static_cast<double>(d)) : json();
  };
  json j{{"threshold_ns", s.threshold_ns},
         {"target_percent", s.target.value()},
         {"ios", t.ios},
         {"ios_over", t.over},
         {"minutes", t.minutes},
         {"minutes_met", t.met},
         {"minute_ms", c.g.step_ms}};
  j["share_under_percent"] = pct(t.ios - t.over, t.ios);
  j["minutes_met_percent"] = pct(t.met, t.minutes);
  j["met"] = t.ios ? json(s.target.at_most(static_cast<std::int64_t>(t.ios - t.over),
                                           static_cast<std::int64_t>(t.ios)))
                   : json();
  return j;
}

std::vector<FleetIncident> find_incidents(const FleetCtx& c) {
  std::vector<FleetIncident> out;
  for (const FleetRow& r : c.rows) {
    const std::vector<std::int64_t>& d = *r.down;
    for (std::size_t k = 1; k <= c.g.steps(); ++k) {
      if (d[k] <= 0) continue;
      FleetIncident i{&r, k, k, 0, {}};
      for (; k <= c.g.steps() && d[k] > 0; ++k) i.last = k, i.down_ms += d[k];
      out.push_back(std::move(i));
    }
  }
  flag_hosts(out);
  std::stable_sort(out.begin(), out.end(), [](const FleetIncident& a, const FleetIncident& b) {
    return a.first < b.first;
  });
  return out;
}

json incident_json(const FleetCtx& c, const FleetIncident& i) {
  const FleetRow& r = *i.row;
  const std::size_t n = c.g.steps();
  const bool unmeasured_after = i.last < n && (*r.measured)[i.last + 1] <= 0;
  json j{
      {"id", fmt::format("prometheus:{}:{}:{}", r.key.instance, r.key.target, c.g.at(i.first - 1))},
      {"basis", "prometheus"},
      {"host", r.key.instance},
      {"target", r.key.target},
      {"target_type", r.key.target_type},
      {"identity", identity_json(r)},
      {"array", r.array},
      {"array_id", r.array_id},
      {"first_state", worst_state(r, i.first, i.first)},
      {"worst_state", worst_state(r, i.first, i.last)},
      {"impairment", span_body(c.g.at(i.first - 1), c.g.at(i.last))},
      {"resolution_ms", c.g.step_ms},
      {"down_ms", i.down_ms},
      {"counted", true},
      {"down_ms_in_period", i.down_ms},
      {"ongoing", i.last == n || unmeasured_after},
      {"closed_by", i.last == n        ? "period_end"
                    : unmeasured_after ? "unmeasured"
                                       : "recovered"},
      {"hosts", i.hosts},
      {"array_wide", i.hosts.size() >= 2}};
  return j;
}

}  // namespace sanwatch
