// SPDX-License-Identifier: Apache-2.0
// The watchdog's ALUA side and the SCSI command counters of paths.
//
// An array changes a target port group's ALUA state (a controller failover)
// without telling the host; the host learns it from the unit attention on
// the next command through that port, which the SCSI midlayer announces as
// a `change` uevent with SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED before
// scsi_dh_alua's RTPG has updated `access_state` (10-20 ms later), and
// dm-multipath then fails the path. So access_state is read at the unit
// attention and again on a few short timers, never waiting on the loop; a
// path dm failed while its port is in standby or unavailable is the array's
// choice and does not degrade its map while another path carries the I/O.
#include <fmt/format.h>

#include <array>
#include <fstream>

#include "base/clock.h"
#include "detect/watchdog.h"

namespace sanwatch {
namespace {

// Re-reads of access_state after a unit attention: RTPG answers within
// 10-30 ms in the lab, a loaded array can take longer; the last one ends
// the window in which a dm failure counts as an ALUA transition.
constexpr std::array<std::uint64_t, 4> kRecheckDelaysNs = {15'000'000, 50'000'000, 250'000'000,
                                                           1'000'000'000};
constexpr std::uint64_t kUaWindowNs = 1'500'000'000;
// A path with an ALUA handler and its transport up that dm fails, or that
// turns unhealthy, gets this long for the unit attention and RTPG to say
// whether the array did it (both come through workqueues and arrive after
// the failure under load) before it counts against its map and port.
constexpr std::uint64_t kAluaGraceNs = 500'000'000;

bool recent(std::uint64_t at, std::uint64_t now, std::uint64_t window) {
  return at && now >= at && now - at < window;
}

bool transport_down(const std::string& scsi_state) {
  return scsi_state == "offline" || scsi_state == "transport-offline" || scsi_state == "blocked";
}

bool standby_state(const std::string& s) {
  return s == "standby" || s == "unavailable" || s == "transitioning";
}

const std::string& scsi_disk(const Watchdog::Target& t) {
  return t.path.info.lower.empty() ? t.dev.name : t.path.info.lower;
}

}  // namespace

void Watchdog::on_scsi_ua(const ScsiUnitAttention& ua, std::uint64_t now) {
  if (!ua.alua()) return;
  if (log_.enabled(LogLevel::kDebug))  // received_ns: when it reached us, to measure our lag
    log_.debug("uevent SDEV_UA", {{"hctl", ua.hctl}, {"ua", ua.what}, {"received_ns", now}});
  for (auto& [name, t] : targets_) {
    if (t.kind != TargetKind::kPath || t.path.info.hctl != ua.hctl) continue;
    t.path.alua_ua_at = now;
    recheck_access_state(t, now, "unit attention");
    if (!t.path.alua_rechecks_armed) arm_alua_recheck(name, 0);
    t.path.alua_rechecks_armed = true;
  }
}

void Watchdog::arm_alua_recheck(const std::string& name, std::size_t step) {
  loop_.at(monotonic_ns() + kRecheckDelaysNs[step], [this, name, step] {
    auto it = targets_.find(name);
    if (it == targets_.end()) return;
    Target& t = it->second;
    const std::uint64_t now = monotonic_ns();
    EventLog::Batch batch(log_);
    recheck_access_state(t, now, "unit attention, re-read");
    if (step + 1 < kRecheckDelaysNs.size()) return arm_alua_recheck(name, step + 1);
    t.path.alua_rechecks_armed = false;
    // The window closed: a failure it excused counts against the map now.
    if (Target* map = map_target(t.path.map)) schedule_dm_check(*map);
  });
}

// Fresh from sysfs (a few bytes, no I/O to the device); the state before
// when it changed.
std::optional<std::string> Watchdog::reread_access_state(Target& path) {
  if (path.path.info.alua_state.empty()) return std::nullopt;  // no ALUA handler attached
  std::ifstream f(sys_.path("sys/block/" + scsi_disk(path) + "/device/access_state"));
  std::string fresh;
  if (!std::getline(f, fresh) || fresh == path.path.info.alua_state) return std::nullopt;
  return std::exchange(path.path.info.alua_state, fresh);
}

void Watchdog::recheck_access_state(Target& path, std::uint64_t now, const char* cause) {
  const auto from = reread_access_state(path);
  if (!from) return;
  Target* map = map_target(path.path.map);
  if (map) refresh_dm(*map, now);  // which group carries the I/O now
  access_state_changed(path, *from, cause);
  apply_path_state(path, now, "");
  evaluate(path, now);
  schedule_port_check();  // the port's blame may depend on it
}

// Announced as an {"event":"access_state"} line: not a health state (a
// failover is the array working), but the moment and the group now in use
// are what an operator wants next to the path's failure.
void Watchdog::access_state_changed(Target& path, const std::string& from, const char* cause) {
  nlohmann::ordered_json j{{"target", path.dev.name},
                           {"target_type", "path"},
                           {"map", path.path.map},
                           {"from", from},
                           {"to", path.path.info.alua_state},
                           {"cause", cause}};
  const PathInfo& p = path.path.info;
  if (p.alua_group >= 0) j["alua_group"] = p.alua_group;
  if (!p.target_port.empty()) j["target_port"] = p.target_port;
  if (Target* map = map_target(path.path.map); map && map->mpath.active_group) {
    j["active_group"] = map->mpath.active_group;
    j["active_paths"] = map->mpath.active_paths;
  }
  log_.event("access_state", j);
}

// Announced as {"event":"active_group"} when it changes: which paths (and
// so which array controller) carry the map's I/O now.
void Watchdog::note_active_group(Target& map, const MpathStatus& status) {
  const unsigned group = active_group(status);
  std::vector<std::string> paths;
  if (group >= 1)
    for (const auto& p : status.groups[group - 1].paths)
      if (const Target* t = by_dev(p.dev)) paths.push_back(t->dev.name);
  const unsigned before = std::exchange(map.mpath.active_group, group);
  map.mpath.active_paths = paths;
  if (before == group || before == 0) return;
  nlohmann::ordered_json alua = nlohmann::ordered_json::array();
  for (const auto& n : paths)
    if (auto it = targets_.find(n); it != targets_.end())
      alua.push_back(it->second.path.info.alua_state);
  log_.event("active_group", {{"target", map.label()},
                              {"target_type", "map"},
                              {"from", before},
                              {"to", group},
                              {"paths", paths},
                              {"alua_states", alua}});
}

// SCSI still reaches the port and the array says it is not to be used (or
// said so moments ago and RTPG has not told us yet, or it failed moments
// ago and the news may be on its way): whatever failed on the path is the
// array's choice, not a broken port.
bool Watchdog::alua_excused(const Target& path, std::uint64_t now) const {
  const PathPart& p = path.path;
  if (transport_down(p.info.scsi_state)) return false;
  if (standby_state(p.info.alua_state)) return true;
  if (p.info.alua_state.empty()) return false;  // no ALUA handler: no news to wait for
  return recent(p.alua_ua_at, now, kUaWindowNs) || recent(p.alua_suspect_at, now, kAluaGraceNs);
}

// A path with ALUA just failed in dm, its transport up (read fresh: the
// uevent does not say): wait for the news, then judge its map again.
void Watchdog::alua_suspect(Target& path, std::uint64_t now) {
  if (path.path.info.alua_state.empty()) return;
  read_scsi_state(path);
  if (transport_down(path.path.info.scsi_state)) return;
  path.path.alua_suspect_at = now;
  const std::string name = path.dev.name;
  loop_.at(now + kAluaGraceNs + 1'000'000, [this, name] {
    auto it = targets_.find(name);
    if (it == targets_.end()) return;
    const std::uint64_t t = monotonic_ns();
    EventLog::Batch batch(log_);
    recheck_access_state(it->second, t, "path failed, re-read");
    if (Target* map = map_target(it->second.path.map)) refresh_dm(*map, t);
  });
}

// ...and dm failed it: a path the map does without by design.
bool Watchdog::alua_standby(const Target& path, std::uint64_t now) const {
  return path.path.dm_known && !path.path.dm_active && alua_excused(path, now);
}

namespace {
// Port blame waits this long after a change of a path with ALUA whose
// transport is up: the unit attention uevent and RTPG's access_state can
// come after the I/O error or dm's PATH_FAILED (hundreds of ms later in the
// loaded lab), and a failover must not be blamed on the port; by then the
// path's grace has run out. The paths' own events are not delayed.
constexpr std::uint64_t kPortCheckDelayNs = kAluaGraceNs + 10'000'000;
}  // namespace

// After a path's state change (its event already held in the batch).
// Without a device handler, or with the transport down or in recovery
// (read fresh: dm's uevent does not say), no ALUA news can excuse it: at
// once, as before ALUA.
void Watchdog::judge_ports_after(Target& path) {
  if (!path.path.info.alua_state.empty()) read_scsi_state(path);
  if (path.path.info.alua_state.empty() || transport_down(path.path.info.scsi_state))
    return update_ports();
  const std::uint64_t now = monotonic_ns();
  if (path.detector.state() != Health::kOk && !recent(path.path.alua_suspect_at, now, kAluaGraceNs))
    path.path.alua_suspect_at = now;
  schedule_port_check();
}

void Watchdog::schedule_port_check() {
  if (port_check_timer_) return;
  port_check_timer_ = loop_.at(monotonic_ns() + kPortCheckDelayNs, [this] {
    port_check_timer_.reset();
    const std::uint64_t now = monotonic_ns();
    EventLog::Batch batch(log_);
    for (auto& [n, t] : targets_)
      if (t.kind == TargetKind::kPath && t.detector.state() != Health::kOk)
        recheck_access_state(t, now, "path unhealthy");
    update_ports();
  });
}

int Watchdog::standby_paths(const Target& map, std::uint64_t now) {
  int n = 0;
  for (const Target* p : paths_of(map)) n += alua_standby(*p, now);
  return n;
}

void Watchdog::read_scsi_counters(Target& path) {
  if (path.path.info.hctl.empty()) return;  // NVMe, or no SCSI disk below
  if (!path.path.scsi_files) {
    auto f = ScsiCounterFiles::open(sys_.path("sys/block/" + scsi_disk(path) + "/device"));
    if (!f) return;
    path.path.scsi_files.emplace(std::move(f).value());
  }
  auto c = path.path.scsi_files->read();
  if (!c) {
    path.path.scsi_files.reset();  // the device went away: reopen next time
    return;
  }
  path.path.scsi_now = *c;
  if (!path.path.scsi_at_change) path.path.scsi_at_change = *c;
}

// The counters' growth since the previous state change: timeouts without
// errors elsewhere point at the fabric, errors on every path at the array.
void Watchdog::scsi_evidence(Target& path, Transition& tr) {
  read_scsi_counters(path);
  if (!path.path.scsi_now || !path.path.scsi_at_change) return;
  const ScsiCounters d = path.path.scsi_now->since(*path.path.scsi_at_change);
  tr.evidence.scsi_known = true;
  tr.evidence.scsi_iodone = d.iodone;
  tr.evidence.scsi_ioerr = d.ioerr;
  tr.evidence.scsi_iotmo = d.iotmo;
  path.path.scsi_at_change = path.path.scsi_now;
}

}  // namespace sanwatch
