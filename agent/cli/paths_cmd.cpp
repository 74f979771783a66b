// SPDX-License-Identifier: Apache-2.0
#include "cli/paths_cmd.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <map>
#include <thread>

#include "base/clock.h"
#include "cli/agent_states.h"
#include "cli/paths_report.h"
#include "detect/traced_device.h"
#include "host/dm_status.h"
#include "kernel/bpf_engine.h"

namespace sanwatch {
namespace {

std::string rfc3339(double unix_s) {
  if (unix_s <= 0) return {};
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

MapRow map_row(const Topology& topo, const MapInfo& m) {
  MapRow row;
  row.info = m;
  for (const auto& name : m.paths) {
    PathRow p;
    if (auto it = topo.paths.find(name); it != topo.paths.end())
      p.info = it->second;
    else
      p.info.name = name;
    // NVMe has no vendor string: its model names the array ("NetApp ONTAP Controller").
    const bool named =
        !p.info.vendor.empty() || (p.info.transport == "nvme" && !p.info.model.empty());
    if (row.array.empty() && named) row.array = p.info.array();
    if (row.serial.empty()) row.serial = p.info.serial;
    row.paths.push_back(std::move(p));
  }
  // Until device-mapper answers, count what the SCSI layer calls usable.
  row.total_paths = static_cast<int>(m.paths.size());
  row.valid_paths = 0;
  for (const auto& p : row.paths) row.valid_paths += derived_path_state(p) == "ok";
  if (m.dm_name.empty()) return row;
  auto rep = read_multipath(m.dm_name);
  if (!rep) return row;  // no device-mapper access: sysfs view only
  row.valid_paths = static_cast<int>(rep->status.valid_paths());
  row.total_paths = static_cast<int>(rep->status.total_paths());
  row.queue_if_no_path = rep->table.queue_if_no_path();
  row.queueing = rep->status.queueing_io();
  row.active_group = active_group(rep->status);
  for (std::size_t g = 0; g < rep->status.groups.size(); ++g)
    for (const auto& sp : rep->status.groups[g].paths)
      for (auto& p : row.paths)
        if (p.info.id == sp.dev) {
          p.dm_state = sp.active ? "active" : "failed";
          p.fail_count = sp.fail_count;
          p.dm_group = static_cast<unsigned>(g + 1);
        }
  return row;
}

// Traces every map and path for the interval; latency stays empty when BPF
// is unavailable (not root): the topology is still worth showing.
void measure(PathsReport& r, const PathsOptions& o, const SysfsBlock& sys) {
  BpfEngine::Options eo;
  eo.verbose = o.verbose;
  std::vector<std::pair<OpStats*, BlockDevice>> targets;
  for (auto& m : r.maps) {
    if (auto d = sys.disk(m.info.name)) targets.emplace_back(&m.io, *d);
    for (auto& p : m.paths)
      if (auto d = sys.disk(p.info.name)) targets.emplace_back(&p.io, *d);
  }
  eo.max_watch = std::max<unsigned>(1, targets.size());
  eo.inflight_slots = 0;
  for (const auto& [s, d] : targets) eo.inflight_slots += d.tag_slots();
  eo.inflight_slots = std::max(eo.inflight_slots, 1u);
  auto engine = BpfEngine::open(eo);
  if (!engine) {
    fmt::print(stderr, "sanwatch paths: no latency ({})\n", engine.error().message());
    return;
  }
  std::vector<int> slots;
  for (const auto& [s, d] : targets)
    slots.push_back((*engine)->watch(traced(d)).ok() ? slots.size() : -1);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_s));
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (slots[i] >= 0)
      if (auto s = (*engine)->read_stats(slots[i])) *targets[i].first = s->all();
  r.interval_s = o.interval_s;
}

void apply_states(PathsReport& r, const PathsOptions& o) {
  std::map<std::string, AgentState> states;
  if (!o.agent_url.empty()) {
    if (auto body = http_get(o.agent_url, 1000)) {
      states = parse_agent_states(*body);
      r.state_source = "agent at " + o.agent_url;
    }
  }
  if (r.state_source.empty()) r.state_source = "derived from dm and SCSI state (no agent)";
  for (auto& m : r.maps) {
    auto it = states.find(m.info.label());
    m.state = it != states.end() ? it->second.state : derived_map_state(m);
    if (it != states.end()) m.since = rfc3339(it->second.since);
    for (auto& p : m.paths) {
      auto pt = states.find(p.info.name);
      p.state = pt != states.end() ? pt->second.state : derived_path_state(p);
      if (pt != states.end()) p.since = rfc3339(pt->second.since);
    }
  }
}

}  // namespace

int run_paths(const PathsOptions& o) {
  SysfsBlock sys(o.root);
  auto topo = read_topology(sys);
  if (!topo) {
    fmt::print(stderr, "sanwatch paths: {}\n", topo.error().message());
    return 1;
  }
  PathsReport r;
  for (const auto& m : topo->maps) r.maps.push_back(map_row(*topo, m));
  if (o.interval_s > 0 && !r.maps.empty()) measure(r, o, sys);
  apply_states(r, o);
  r.time = rfc3339_now();
  const std::string out = o.json ? paths_json(r).dump(2) + "\n" : paths_text(r);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace sanwatch
