// SPDX-License-Identifier: Apache-2.0
// The detect layer's picture of every target, for readers on other threads
// (/metrics): plain values, taken on the event-loop thread.
#include "base/clock.h"
#include "detect/watchdog.h"

namespace sanwatch {
namespace {

std::vector<std::string> state_names(TargetKind k) {
  std::vector<std::string> out;
  for (Health h : states_of(k)) out.emplace_back(health_name(h));
  return out;
}

void set_array(TargetSnapshot& m, const PathInfo& p) {
  if (p.vendor.empty() && p.array_id.empty()) return;
  m.array = p.vendor.empty() ? "" : p.array();
  m.array_vendor = p.vendor;
  m.array_product = p.model;
  m.array_id = p.array_id;
}

}  // namespace

TargetIdentity identity_of(const TargetSnapshot& t) {
  TargetIdentity id;
  id.label = t.label;
  id.type = t.target_type;
  id.kernel_name = t.name;
  id.dm_name = t.dm_name;
  id.wwid = t.wwid;
  id.map = t.map;
  id.hctl = t.hctl;
  id.array = t.array;
  id.array_id = t.array_id;
  id.target_port = t.target_port;
  id.transport = t.transport;
  id.serial = t.serial;
  return id;
}

bool Watchdog::histograms_for(const Target& t) const {
  return t.kind != TargetKind::kPath || cfg_.metrics.path_histograms;
}

TargetSnapshot Watchdog::snapshot_of(const Target& t) const {
  TargetSnapshot m;
  m.name = t.dev.name;
  m.label = t.label();
  m.target_type = std::string(kind_name(t.kind));
  m.dm_name = t.dev.dm_name;
  // A stacked path (dm-delay over sdb) has no wwid of its own: the disk's.
  m.wwid = t.dev.wwid.empty() ? t.path.info.wwid : t.dev.wwid;
  m.present = t.present;
  m.histograms = histograms_for(t);
  m.state = std::string(health_name(t.detector.state()));
  m.states = state_names(t.kind);
  m.state_since = t.state_since;
  const std::uint64_t now = monotonic_ns();
  m.impairment = t.detector.impairment(now);
  for (Health h : states_of(t.kind)) m.state_seconds.push_back(t.meter.state_seconds(h, now));
  m.down_seconds = t.meter.down_seconds(now, m.impairment);
  set_array(m, t.path.info);
  m.map = t.path.map;
  if (t.kind == TargetKind::kPath) {
    m.path_up = is_nvme_path(t)   ? t.path.nvme_usable
                : t.path.dm_known ? t.path.dm_active
                                  : t.path.info.scsi_state == "running";
    m.transitions = t.path.transitions;
    m.target_port = t.path.info.target_port;
    m.hctl = t.path.info.hctl;
    m.transport = t.path.info.transport;
    m.alua_state = t.path.info.alua_state;
    m.serial = t.path.info.serial;
    if (is_nvme_path(t)) {
      m.controller = t.path.info.host;
      m.nvme_transport = t.path.info.nvme_transport;
      m.ana_group = t.path.info.ana_group;
    }
    if (const auto& c = t.path.scsi_now) {
      m.scsi_counters = true;
      m.scsi_iodone = c->iodone;
      m.scsi_ioerr = c->ioerr;
      m.scsi_iotmo = c->iotmo;
    }
  }
  m.active_group = t.mpath.active_group;
  m.valid_paths = t.mpath.valid_paths;
  m.total_paths = t.mpath.total_paths;
  if (t.slot >= 0) {
    if (const DeviceStats* s = engine_->stats(t.slot)) m.io = *s;
    m.oldest_start_ns = engine_->oldest_outstanding_ns(t.slot);
  }
  if (t.canary >= 0) {
    if (const CanaryStats* c = prober_->stats(t.canary)) m.canary = *c;
    m.canary_since_ns = prober_->outstanding_since(t.canary);
    m.canary_deadline_ns = static_cast<std::uint64_t>(t.settings.canary.deadline.count());
  }
  return m;
}

std::vector<TargetSnapshot> Watchdog::snapshot() const {
  std::vector<TargetSnapshot> out;
  out.reserve(targets_.size());
  for (const auto& [name, t] : targets_) out.push_back(snapshot_of(t));
  // A map's array is its paths' (the first path that knows it).
  std::map<std::string, const PathInfo*> by_map;
  for (const auto& [name, t] : targets_)
    if (t.kind == TargetKind::kPath && !t.path.info.vendor.empty())
      by_map.emplace(t.path.map, &t.path.info);
  for (TargetSnapshot& m : out)
    if (m.target_type == "map" && m.array_vendor.empty())
      if (auto it = by_map.find(m.label); it != by_map.end()) set_array(m, *it->second);
  return out;
}

}  // namespace sanwatch
