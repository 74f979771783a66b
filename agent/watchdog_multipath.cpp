// The watchdog's multipath side: kernel uevents (dm-multipath PATH_FAILED /
// PATH_REINSTATED, block add/remove) and device-mapper's own status, cross-
// checked, turned into path failed/flapping and map degraded/down.
#include <fmt/format.h>
#include <sys/epoll.h>

#include <fstream>

#include "clock.h"
#include "dm_status.h"
#include "port_health.h"
#include "watchdog.h"

namespace sanwatch {

Watchdog::Target* Watchdog::by_dev(const DevId& id) {
  for (auto& [n, t] : targets_)
    if (t.dev.id == id) return &t;
  return nullptr;
}

Watchdog::Target* Watchdog::map_target(const std::string& label) {
  for (auto& [n, t] : targets_)
    if (t.kind == TargetKind::kMap && (t.dev.dm_name == label || t.dev.name == label)) return &t;
  return nullptr;
}

std::vector<Watchdog::Target*> Watchdog::paths_of(const Target& map) {
  std::vector<Target*> out;
  for (auto& [n, t] : targets_)
    if (t.kind == TargetKind::kPath && t.map == map.label()) out.push_back(&t);
  return out;
}

void Watchdog::start_uevents() {
  auto l = UeventListener::open();
  if (!l) {
    // Without uevents the periodic rescan and dm status still find changes,
    // seconds later rather than at once.
    log_.warn("no kernel uevents: " + l.error().message() + "; relying on rescans");
    return;
  }
  uevents_.emplace(std::move(l).value());
  auto st = loop_.add_fd(uevents_->fd(), EPOLLIN, [this](std::uint32_t) { on_uevents(); });
  if (!st) log_.warn("no kernel uevents: " + st.error().message());
}

void Watchdog::schedule_rescan(std::uint64_t delay_ns) {
  if (rescan_soon_) return;  // one rescan covers a burst of add/remove events
  rescan_soon_ = loop_.at(monotonic_ns() + delay_ns, [this] {
    rescan_soon_.reset();
    sync_devices();
    refresh_all_dm(monotonic_ns());
  });
}

void Watchdog::on_uevents() {
  auto r = uevents_->drain([this](const Uevent& ev) {
    const std::uint64_t now = monotonic_ns();
    if (ev.dm && ev.dm->action != DmPathAction::kOther) {
      // received_ns: when the uevent reached us, to measure our own lag.
      log_.debug("uevent " + ev.dm->action_name, {{"map", ev.dm->name},
                                                  {"path", ev.dm->path.str()},
                                                  {"valid_paths", ev.dm->nr_valid_paths},
                                                  {"received_ns", now}});
      on_dm_event(*ev.dm, now);
    } else if (ev.subsystem == "block" &&
               (ev.action == "add" || ev.action == "remove" || ev.resized())) {
      schedule_rescan(50'000'000);
    } else if (ev.subsystem == "scsi" && ev.action == "change") {
      schedule_rescan(50'000'000);  // unit attention: ALUA state, capacity...
    }
  });
  if (!r) {
    log_.error("uevent socket: " + r.error().message());
    return;
  }
  if (r->resync_needed) {
    log_.warn("kernel uevents were lost (receive buffer overflow); rescanning");
    schedule_rescan(0);
  }
}

void Watchdog::on_dm_event(const DmPathEvent& ev, std::uint64_t now) {
  Target* path = by_dev(ev.path);
  Target* map = map_target(ev.name);
  if (path && path->kind == TargetKind::kPath) {
    const bool failed = ev.action == DmPathAction::kPathFailed;
    set_dm_path(*path, !failed, now);
    apply_path_state(*path, now,
                     fmt::format("dm-multipath failed the path ({}, {} valid paths left)",
                                 ev.action_name, ev.nr_valid_paths));
    evaluate(*path, now);
  }
  if (map) {
    map->valid_paths = static_cast<int>(ev.nr_valid_paths);
    if (map->total_paths < 0) map->total_paths = static_cast<int>(paths_of(*map).size());
    map->detector.valid_paths(now, map->valid_paths, map->total_paths);
    evaluate(*map, now);
    // The uevent says what changed; the status ioctl says where dm stands
    // now (fail counts, other paths). Cheap: no I/O, no fork.
    refresh_dm(*map, now);
  }
}

void Watchdog::set_dm_path(Target& path, bool active, std::uint64_t now) {
  if (path.dm_known && path.dm_active != active) {
    ++path.transitions;
    if (active) path.detector.path_reinstated(now);
  }
  path.dm_known = true;
  path.dm_active = active;
}

// A path is failed when dm-multipath says so, or when the SCSI layer has
// taken the device offline (dm only notices at the next I/O).
void Watchdog::apply_path_state(Target& path, std::uint64_t now, const std::string& why) {
  // Fresh from sysfs: the topology read at the last rescan may be a second
  // old, and a stale "offline" would hide a reinstatement. A stacked path
  // (dm-delay over sdb) has no device/: the disk below it has the state.
  const std::string& disk = path.path.lower.empty() ? path.dev.name : path.path.lower;
  std::ifstream f(root_ + (root_.back() == '/' ? "" : "/") + "sys/block/" + disk + "/device/state");
  if (std::string fresh; f >> fresh) path.path.scsi_state = fresh;
  const std::string& s = path.path.scsi_state;
  const bool scsi_down = s == "offline" || s == "transport-offline";
  const bool dm_down = path.dm_known && !path.dm_active;
  std::string reason = why;
  if (dm_down && reason.empty())
    reason =
        fmt::format("dm-multipath reports the path failed (fail count {})", path.dm_fail_count);
  if (!dm_down && scsi_down) reason = "SCSI device state is " + s;
  path.detector.path_failed(now, dm_down || scsi_down, reason);
}

void Watchdog::refresh_dm(Target& map, std::uint64_t now) {
  if (map.kind != TargetKind::kMap || map.dev.dm_name.empty()) return;
  auto rep = read_multipath(map.dev.dm_name, dm_control_);
  if (!rep) {
    // Once per map: without CAP_SYS_ADMIN every DM ioctl fails, and the
    // agent then relies on uevents and SCSI state alone.
    if (!map.dm_status_warned)
      log_.warn(
          "cannot read device-mapper status of " + map.dev.dm_name + ": " + rep.error().message(),
          {{"target", map.label()}});
    map.dm_status_warned = true;
    return;
  }
  map.queue_if_no_path = rep->table.queue_if_no_path();
  map.valid_paths = static_cast<int>(rep->status.valid_paths());
  map.total_paths = static_cast<int>(rep->status.total_paths());
  for (const auto& g : rep->status.groups)
    for (const auto& p : g.paths) {
      Target* path = by_dev(p.dev);
      if (!path || path->kind != TargetKind::kPath) continue;
      path->dm_fail_count = p.fail_count;
      set_dm_path(*path, p.active, now);
      apply_path_state(*path, now, "");
      evaluate(*path, now);
    }
  map.detector.valid_paths(now, map.valid_paths, map.total_paths);
  evaluate(map, now);
}

// When every path through one array target port is unhealthy, say so once:
// the port (the array controller) is the cause, not each path.
void Watchdog::update_ports() {
  std::vector<PathHealthInput> in;
  for (const auto& [n, t] : targets_)
    if (t.kind == TargetKind::kPath)
      in.push_back({t.dev.name, t.path.vendor.empty() ? "" : t.path.array(), t.path.target_port,
                    t.detector.state()});
  for (const auto& [port, h] : port_health(in)) {
    bool& was = port_degraded_[port];
    if (h.degraded() == was) continue;
    was = h.degraded();
    Transition tr{was ? Health::kOk : Health::kDegraded,
                  was ? Health::kDegraded : Health::kOk,
                  monotonic_ns(),
                  was ? h.reason() : "a path through the port is healthy again",
                  {}};
    log_.state(port, "port", tr, {{"array", h.array}, {"target_port", port}, {"paths", h.paths}});
  }
}

void Watchdog::refresh_all_dm(std::uint64_t now) {
  for (auto& [n, t] : targets_)
    if (t.kind == TargetKind::kMap && t.present) refresh_dm(t, now);
}

}  // namespace sanwatch
