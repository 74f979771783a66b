// SPDX-License-Identifier: Apache-2.0
// The watchdog's multipath side: kernel uevents (dm-multipath PATH_FAILED /
// PATH_REINSTATED, block add/remove) and device-mapper's own status, cross-
// checked, turned into path failed/flapping and map degraded/down.
//
// Latency matters here: a PATH_FAILED uevent says everything needed to
// announce the path failed and its map degraded (DM_NR_VALID_PATHS), so both
// are announced first, with no I/O in between — handed to the alert worker
// in one batch, then written to the log — and only then is the slower
// cross-check done (the DM status ioctls and each path's SCSI state from
// sysfs), from a timer after the whole burst of uevents has been announced.
#include <fmt/format.h>
#include <sys/epoll.h>

#include <fstream>
#include <utility>

#include "base/clock.h"
#include "detect/port_health.h"
#include "detect/watchdog.h"
#include "host/dm_status.h"

namespace sanwatch {
namespace {

constexpr std::uint64_t kDmCheckDelayNs = 20'000'000;

}  // namespace

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
    if (t.kind == TargetKind::kPath && t.path.map == map.label()) out.push_back(&t);
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
    refresh_all_nvme(monotonic_ns());
  });
}

namespace {
// Event-driven rescans at most this often: each reads every disk's sysfs on
// the event loop, which with hundreds of devices takes long enough to delay
// stall timers, and a loop device churn sends a uevent every few ms.
constexpr std::uint64_t kUeventRescanSpacingNs = 1'000'000'000;
constexpr std::uint64_t kUeventRescanDelayNs = 50'000'000;  // a burst's events in one
}  // namespace

std::uint64_t Watchdog::rescan_delay(std::uint64_t now) const {
  const std::uint64_t next = last_rescan_ + kUeventRescanSpacingNs;
  return std::max(kUeventRescanDelayNs, next > now ? next - now : 0);
}

// Any block change, not only RESIZE=1: the kernel sends none for a size to
// or from 0, so a loop attached or detached (LOOP_CONFIGURE, LOOP_CLR_FD)
// says only "change". For a disk already watched and present, one read of
// its own sysfs tells at once whether it is gone (no longer listed, or size
// 0); anything else (a new disk, one back, a resize) waits for a rescan.
void Watchdog::on_block_uevent(const Uevent& ev, std::uint64_t now) {
  auto it = ev.devname.empty() ? targets_.end() : targets_.find(ev.devname);
  if (it != targets_.end() && it->second.present && !ev.resized()) {
    auto d = sys_.disk(ev.devname);
    if (!d || d->size_bytes == 0) {
      set_present(it->second, false, now);
      return;
    }
    if (ev.action == "change") return;  // still there, same size
  }
  schedule_rescan(rescan_delay(now));
}

void Watchdog::on_uevents() {
  // What the drain announced, logged after it: a debug line is no reason to
  // make an alert wait.
  std::vector<std::pair<DmPathEvent, std::uint64_t>> seen;
  auto r = [&] {
    EventLog::Batch batch(log_);  // the sinks get the drain's events when it ends
    return uevents_->drain([this, &seen](const Uevent& ev) {
      const std::uint64_t now = monotonic_ns();
      if (ev.dm && ev.dm->action != DmPathAction::kOther) {
        on_dm_event(*ev.dm, now);
        if (log_.enabled(LogLevel::kDebug)) seen.emplace_back(*ev.dm, now);
      } else if (ev.subsystem == "block" &&
                 (ev.action == "add" || ev.action == "remove" ||
                  (ev.action == "change" && (ev.devtype == "disk" || ev.resized())))) {
        on_block_uevent(ev, now);
      } else if (ev.subsystem == "scsi" && ev.action == "change") {
        if (ev.scsi_ua) on_scsi_ua(*ev.scsi_ua, now);  // ALUA: at once, not at the rescan
        schedule_rescan(rescan_delay(now));            // unit attention: ALUA state, capacity...
      }
    });
  }();
  for (const auto& [dm, at] : seen)  // received_ns: when it reached us, to measure our lag
    log_.debug("uevent " + dm.action_name, {{"map", dm.name},
                                            {"path", dm.path.str()},
                                            {"valid_paths", dm.nr_valid_paths},
                                            {"received_ns", at}});
  if (!r) {
    log_.error("uevent socket: " + r.error().message());
    return;
  }
  if (r->resync_needed) {
    log_.warn("kernel uevents were lost (receive buffer overflow); rescanning");
    schedule_rescan(0);
  }
}

// Announces what the uevent alone tells, without any I/O: the caller holds
// an EventLog::Batch, so the path's and the map's changes leave together.
void Watchdog::on_dm_event(const DmPathEvent& ev, std::uint64_t now) {
  Target* path = by_dev(ev.path);
  Target* map = map_target(ev.name);
  std::optional<std::string> alua_before;  // the path's access_state changed under the failure
  if (path && path->kind == TargetKind::kPath) {
    const bool failed = ev.action == DmPathAction::kPathFailed;
    // Small sysfs reads, no ioctl: whether the array's ALUA change is why
    // (RTPG may already have answered; else it gets a grace) decides if
    // the map is degraded.
    if (failed) {
      alua_before = reread_access_state(*path);
      alua_suspect(*path, now);
    }
    set_dm_path(*path, !failed, now);
    // Failed is failed whatever SCSI says; back is only back if SCSI agrees,
    // and the state read at the last rescan may be a stale "offline".
    if (!failed) read_scsi_state(*path);
    apply_path_state(*path, now,
                     fmt::format("dm-multipath failed the path ({}, {} valid paths left)",
                                 ev.action_name, ev.nr_valid_paths));
  }
  if (map) {
    map->mpath.valid_paths = static_cast<int>(ev.nr_valid_paths);
    if (map->mpath.total_paths < 0)
      map->mpath.total_paths = static_cast<int>(paths_of(*map).size());
    map->detector.valid_paths(now, map->mpath.valid_paths, map->mpath.total_paths,
                              standby_paths(*map, now));
  }
  if (path && path->kind == TargetKind::kPath) evaluate(*path, now);
  if (map) {
    evaluate(*map, now);
    // The uevent says what changed; dm's status says where it stands now
    // (fail counts, the other paths): re-read once the burst is announced.
    schedule_dm_check(*map);
  }
  if (alua_before) access_state_changed(*path, *alua_before, "path failed");
}

void Watchdog::schedule_dm_check(const Target& map) {
  dm_checks_.insert(map.dev.name);
  if (dm_check_timer_) return;
  // A timer, so a burst of uevents on many maps is announced before any
  // ioctl, and a little later, so on a busy machine the CPU goes first to
  // whoever acts on the announcement (the alert worker's POST) and the burst
  // costs one status read per map. The check refines (fail counts, the other
  // paths); it does not decide.
  dm_check_timer_ = loop_.at(monotonic_ns() + kDmCheckDelayNs, [this] { run_dm_checks(); });
}

void Watchdog::run_dm_checks() {
  dm_check_timer_.reset();
  const std::set<std::string> maps = std::exchange(dm_checks_, {});
  const std::uint64_t now = monotonic_ns();
  EventLog::Batch batch(log_);
  for (const auto& name : maps)
    if (auto it = targets_.find(name); it != targets_.end() && it->second.present)
      refresh_dm(it->second, now);
}

void Watchdog::set_dm_path(Target& path, bool active, std::uint64_t now) {
  if (path.path.dm_known && path.path.dm_active != active) {
    ++path.path.transitions;
    if (active) path.detector.path_reinstated(now);
  }
  path.path.dm_known = true;
  path.path.dm_active = active;
}

// Fresh from sysfs: the topology read at the last rescan may be seconds
// old, and a stale "offline" would hide a reinstatement. A stacked path
// (dm-delay over sdb) has no device/: the disk below it has the state.
void Watchdog::read_scsi_state(Target& path) {
  const std::string& disk = path.path.info.lower.empty() ? path.dev.name : path.path.info.lower;
  std::ifstream f(sys_.path("sys/block/" + disk + "/device/state"));
  if (std::string fresh; f >> fresh) path.path.info.scsi_state = fresh;
}

// A path is failed when dm-multipath says so, or when the SCSI layer has
// taken the device offline (dm only notices at the next I/O). No I/O here:
// callers refresh path.path.info.scsi_state first where it matters.
void Watchdog::apply_path_state(Target& path, std::uint64_t now, const std::string& why) {
  if (is_nvme_path(path)) return apply_nvme_path_state(path, now);
  const std::string& s = path.path.info.scsi_state;
  const bool scsi_down = s == "offline" || s == "transport-offline";
  const bool dm_down = path.path.dm_known && !path.path.dm_active;
  std::string reason = why;
  if (dm_down && reason.empty())
    reason = fmt::format("dm-multipath reports the path failed (fail count {})",
                         path.path.dm_fail_count);
  if (!dm_down && scsi_down) reason = "SCSI device state is " + s;
  // The array's doing, not the path's: say so where the alert shows it.
  const std::string& alua = path.path.info.alua_state;
  if (dm_down && (alua == "standby" || alua == "unavailable" || alua == "transitioning"))
    reason += "; ALUA access state " + alua + " (the array moved I/O off this port)";
  path.detector.path_failed(now, dm_down || scsi_down, reason);
}

void Watchdog::refresh_dm(Target& map, std::uint64_t now) {
  if (map.kind != TargetKind::kMap || map.dev.dm_name.empty()) return;
  auto rep = read_multipath(map.dev.dm_name, dm_control_);
  if (!rep) {
    // Once per map: without CAP_SYS_ADMIN every DM ioctl fails, and the
    // agent then relies on uevents and SCSI state alone.
    if (!map.mpath.dm_status_warned)
      log_.warn(
          "cannot read device-mapper status of " + map.dev.dm_name + ": " + rep.error().message(),
          {{"target", map.label()}});
    map.mpath.dm_status_warned = true;
    return;
  }
  map.mpath.queue_if_no_path = rep->table.queue_if_no_path();
  map.mpath.valid_paths = static_cast<int>(rep->status.valid_paths());
  map.mpath.total_paths = static_cast<int>(rep->status.total_paths());
  note_active_group(map, rep->status);
  for (const auto& g : rep->status.groups)
    for (const auto& p : g.paths) {
      Target* path = by_dev(p.dev);
      if (!path || path->kind != TargetKind::kPath) continue;
      path->path.dm_fail_count = p.fail_count;
      // Failed since dm last said (its uevent may come later still).
      if (!p.active && (!path->path.dm_known || path->path.dm_active)) alua_suspect(*path, now);
      set_dm_path(*path, p.active, now);
      read_scsi_state(*path);
      apply_path_state(*path, now, "");
      evaluate(*path, now);
    }
  map.detector.valid_paths(now, map.mpath.valid_paths, map.mpath.total_paths,
                           standby_paths(map, now));
  evaluate(map, now);
}

// When every path through one array target port is unhealthy, say so once:
// the port (the array controller) is the cause, not each path.
void Watchdog::update_ports() {
  std::vector<PathHealthInput> in;
  const std::uint64_t now = monotonic_ns();
  // A port the array put in ALUA standby is not a broken port, until the
  // transport itself fails.
  for (auto& [n, t] : targets_) {
    if (t.kind != TargetKind::kPath) continue;
    const std::string& s = t.path.info.scsi_state;
    const bool scsi_down = s == "offline" || s == "transport-offline" || s == "blocked";
    bool& alua = t.path.alua_episode;
    if (t.detector.state() == Health::kOk || scsi_down)
      alua = false;
    else if (alua_excused(t, now))
      alua = true;
    in.push_back({t.dev.name, t.path.info.vendor.empty() ? "" : t.path.info.array(),
                  t.path.info.target_port, alua ? Health::kOk : t.detector.state()});
  }
  for (const auto& [port, h] : port_health(in)) {
    bool& was = port_degraded_[port];
    if (h.degraded() == was) continue;
    was = h.degraded();
    Transition tr{was ? Health::kOk : Health::kDegraded,
                  was ? Health::kDegraded : Health::kOk,
                  monotonic_ns(),
                  was ? h.reason() : "a path through the port is healthy again",
                  {}};
    TargetIdentity id;
    id.label = port;
    id.type = "port";
    id.array = h.array;
    id.target_port = port;
    id.paths = h.paths;
    log_.state(std::move(id), tr);
  }
}

void Watchdog::refresh_all_dm(std::uint64_t now) {
  for (auto& [n, t] : targets_)
    if (t.kind == TargetKind::kMap && t.present) refresh_dm(t, now);
}

}  // namespace sanwatch
