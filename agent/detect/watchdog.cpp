// SPDX-License-Identifier: Apache-2.0
#include "detect/watchdog.h"

#include <fmt/format.h>
#include <sys/epoll.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "base/clock.h"
#include "detect/engine_sizing.h"
#include "detect/traced_device.h"

namespace sanwatch {
namespace {

std::uint64_t ns(Duration d) { return static_cast<std::uint64_t>(d.count()); }

}  // namespace

TargetIdentity Watchdog::Target::identity() const {
  TargetIdentity id;
  id.label = label();
  id.type = std::string(kind_name(kind));
  id.device = dev.id.str();
  id.kernel_name = dev.name;
  id.dm_name = dev.dm_name;
  id.wwid = dev.wwid;
  // A path's, a plain disk's (or what [[override]] declares): a map's
  // array is its paths'.
  if (!path.info.vendor.empty()) id.array = path.info.array();
  id.array_id = path.info.array_id;
  if (kind == TargetKind::kPath) {
    const PathInfo& p = path.info;
    if (id.wwid.empty()) id.wwid = p.wwid;  // a stacked path: the disk below it
    id.map = path.map;
    id.lower = p.lower;
    id.hctl = p.hctl;
    id.serial = p.serial;
    id.target_port = p.target_port;
    id.transport = p.transport;
    id.alua_state = p.alua_state;
  }
  return id;
}

Watchdog::Watchdog(Config cfg, EventLog& log, EventLoop& loop, std::string root)
    : cfg_(std::move(cfg)), log_(log), loop_(loop), sys_(std::move(root)) {}

Watchdog::~Watchdog() {
  for (auto id : {tick_timer_, canary_timer_, rescan_timer_, rescan_soon_, dm_check_timer_,
                  nvme_poll_timer_, aen_timer_, nvme_error_timer_})
    if (id) loop_.cancel(*id);
  if (aen_) loop_.remove_fd(aen_->event_fd());
  for (auto& [name, t] : targets_)
    if (t.deadline_timer) loop_.cancel(*t.deadline_timer);
}

Status Watchdog::start(bool verbose, unsigned inflight_slots) {
  auto disks = sys_.disks();
  if (!disks) return disks.error();
  const EngineSizing size = engine_sizing(*disks);
  engine_opts_.verbose = verbose;
  engine_opts_.max_watch = size.max_watch;
  engine_opts_.inflight_slots = inflight_slots ? inflight_slots : size.inflight_slots;
  engine_opts_.ring_buffer_bytes = cfg_.tracing.ring_buffer_bytes;
  engine_opts_.sysfs_root = sys_.root();
  engine_opts_.latency_slos_ns.clear();
  for (Duration d : cfg_.ledger.latency_slos) engine_opts_.latency_slos_ns.push_back(ns(d));
  if (auto st = open_engine(); !st) return st;
  if (!engine_->seeding_unavailable().empty())
    log_.warn("I/O outstanding before tracing starts is counted, not found (" +
              engine_->seeding_unavailable() + ")");

  CanaryProber::Callbacks cb;
  cb.submitted = [this](int id, std::uint64_t now) {
    if (Target* t = by_canary(id)) {
      t->detector.canary_submitted(now);
      arm_deadline(*t, now);
    }
  };
  cb.done = [this](int id, std::uint64_t now, std::uint64_t lat, int err) {
    if (Target* t = by_canary(id)) {
      t->detector.canary_done(now, lat, err);
      evaluate(*t, now);
    }
  };
  cb.abandoned = [this](int id) {
    if (Target* t = by_canary(id)) {
      t->detector.canary_abandoned();
      arm_deadline(*t, monotonic_ns());
    }
  };
  cb.open_failed = [this](int id, int err) {
    if (Target* t = by_canary(id))
      log_.warn("canary cannot open /dev/" + t->dev.name + ": " + std::strerror(err) +
                    "; retrying with backoff",
                {{"target", t->dev.name}});
  };
  auto prober = CanaryProber::create(std::max(256u, 4 * size.devices), std::move(cb));
  if (!prober) return prober.error();
  prober_ = std::move(prober).value();

  if (auto st = loop_.add_fd(prober_->event_fd(), EPOLLIN,
                             [this](std::uint32_t) {
                               prober_->reap();
                               run_canaries();
                             });
      !st)
    return st;
  start_uevents();
  sync_devices();
  refresh_all_dm(monotonic_ns());
  if (refresh_all_nvme(monotonic_ns())) ensure_aen();  // the poll runs from here on
  tick();
  run_canaries();
  return {};
}

void Watchdog::reload(Config cfg) {
  // The engine counts against the thresholds it was loaded with.
  if (cfg.ledger.latency_slos != cfg_.ledger.latency_slos)
    log_.warn("ledger.latency_slos changes take effect at the next start");
  cfg.ledger.latency_slos = cfg_.ledger.latency_slos;
  if (cfg.tracing.ring_buffer_bytes != cfg_.tracing.ring_buffer_bytes)
    log_.warn("tracing.ring_buffer_bytes changes take effect at the next start");
  cfg.tracing = cfg_.tracing;
  cfg_ = std::move(cfg);
  log_.set_level(parse_log_level(cfg_.log_level));
  sync_devices();
  run_canaries();
}

void Watchdog::sync_devices() {
  const std::uint64_t now = monotonic_ns();
  last_rescan_ = now;
  auto disks = sys_.disks();
  if (!disks) {
    log_.error("cannot list block devices: " + disks.error().message());
    return;
  }
  // Topology decides what each disk is: map, path below a map, or device.
  const Topology topo = read_topology(sys_, *disks);
  syncing_ = true;
  std::set<std::string> seen;
  for (const auto& d : *disks) {
    const bool is_path = topo.map_of(d.name) != nullptr;
    const bool excluded = std::any_of(cfg_.exclude.begin(), cfg_.exclude.end(),
                                      [&](const std::string& p) { return device_matches(p, d); });
    auto it = targets_.find(d.name);
    // A watched device that shrinks to nothing (a detached loop) stays a
    // target and turns gone; a new one must be usable to be picked up.
    const bool known = it != targets_.end() && (cfg_.matches(d) || (is_path && !excluded));
    const bool wanted = known || cfg_.selects(d) || (is_path && !excluded && d.size_bytes > 0);
    if (!wanted) continue;
    seen.insert(d.name);
    if (it == targets_.end())
      add_target(d, topo);
    else
      update_target(it->second, d, topo);
  }
  for (auto it = targets_.begin(); it != targets_.end();) {
    Target& t = it->second;
    const bool listed = std::any_of(disks->begin(), disks->end(),
                                    [&](const BlockDevice& d) { return d.name == it->first; });
    if (seen.count(it->first)) {
      ++it;
    } else if (!listed) {
      set_present(t, false, now);  // vanished from sysfs: gone
      ++it;
    } else {
      // Still there but no longer selected (config change): forget it.
      log_.info("no longer watching " + it->first, {{"target", it->first}});
      unwatch(t);
      remove_canary(t);
      if (t.deadline_timer) loop_.cancel(*t.deadline_timer);
      it = targets_.erase(it);
    }
  }
  syncing_ = false;
  update_ports();
}

void Watchdog::add_target(const BlockDevice& d, const Topology& topo) {
  const DeviceSettings s = cfg_.settings_for(d);
  Target t{d, s, Detector(s.thresholds, ns(s.canary.deadline)), AvailabilityMeter(monotonic_ns())};
  auto [it, ok] = targets_.emplace(d.name, std::move(t));
  update_target(it->second, d, topo);
  log_.info("watching " + d.name, identity_json(it->second.identity()));
}

void Watchdog::update_target(Target& t, const BlockDevice& d, const Topology& topo) {
  const std::uint64_t now = monotonic_ns();
  const bool present = d.size_bytes > 0;
  const bool geometry_changed =
      d.nr_hw_queues != t.dev.nr_hw_queues || d.tags_per_queue != t.dev.tags_per_queue;
  t.dev = d;
  const MapInfo* map = topo.map_of(d.name);
  const MapInfo* self = topo.map_named(d.name);  // dm map or NVMe head
  t.kind = map                        ? TargetKind::kPath
           : d.is_multipath() || self ? TargetKind::kMap
                                      : TargetKind::kDevice;
  if (self && t.dev.wwid.empty()) t.dev.wwid = self->wwid;
  if (is_nvme_head(t)) start_nvme_poll();
  t.path.map = map ? map->label() : "";
  const std::string alua_before = t.path.info.alua_state;
  if (auto p = topo.paths.find(d.name); p != topo.paths.end()) {
    if (p->second.id != t.path.info.id) t.path.scsi_files.reset();  // another disk by that name
    t.path.info = p->second;
  }
  t.settings = cfg_.settings_for(d);
  if (t.settings.array_vendor) t.path.info.vendor = *t.settings.array_vendor;
  if (t.settings.array_product) t.path.info.model = *t.settings.array_product;
  if (t.settings.array_id) t.path.info.array_id = *t.settings.array_id;
  if (t.kind == TargetKind::kPath) apply_path_state(t, now, "");
  // Seen by the rescan (an idle path's state changes only when a command or
  // a rescan asks): announced like one a unit attention brought.
  if (t.kind == TargetKind::kPath && !alua_before.empty() &&
      alua_before != t.path.info.alua_state) {
    access_state_changed(t, alua_before, "rescan");
    if (!syncing_) schedule_port_check();
  }
  t.detector.configure(t.settings.thresholds, ns(t.settings.canary.deadline));
  if (geometry_changed && t.slot >= 0) unwatch(t);
  set_present(t, present, now);
  if (t.slot >= 0) {
    if (auto st = engine_->configure(t.slot, ns(t.settings.thresholds.slow_io), histograms_for(t));
        !st)
      log_.error(st.error().message(), {{"target", d.name}});
  }
  // A hidden path (nvme0c1n1) has no device node and the kernel gives no way
  // to read it alone: its requests are traced, its canaries go via the head.
  const bool canary = present && !d.hidden && cfg_.wants_canary(d, t.kind != TargetKind::kDevice);
  if (canary && t.canary < 0) {
    CanaryTarget ct{sys_.path("dev/" + d.name), d.size_bytes, d.logical_block_size,
                    t.settings.canary};
    if (auto id = prober_->add(ct))
      set_canary(t, *id);
    else
      log_.error(id.error().message(), {{"target", d.name}});
  } else if (canary) {
    prober_->update(t.canary, t.settings.canary, d.size_bytes);
  } else {
    remove_canary(t);
  }
}

// Canary callbacks find their target by id in O(1): with a thousand
// targets probing every second, a search per callback was most of the
// agent's own CPU.
void Watchdog::set_canary(Target& t, int id) {
  t.canary = id;
  by_canary_.set(id, &t);
}

void Watchdog::remove_canary(Target& t) {
  if (t.canary < 0) return;
  prober_->remove(t.canary);
  by_canary_.clear(t.canary);
  t.canary = -1;
}

void Watchdog::set_present(Target& t, bool present, std::uint64_t now) {
  if (present) {
    if (t.slot < 0) watch(t);
  } else {
    unwatch(t);
    remove_canary(t);
    t.detector.oldest_outstanding(now, std::nullopt);
  }
  if (present != t.present) {
    t.present = present;
    t.detector.gone(now, !present);
  }
  evaluate(t, now);
}

Status Watchdog::open_engine() {
  auto engine = BpfEngine::open(engine_opts_);
  if (!engine) return engine.error();
  if (engine_) loop_.remove_fd(engine_->event_fd());
  engine_ = std::move(engine).value();  // the old one, if any, detaches here
  engine_->set_event_handler([this](const IoEvent& ev) { on_io_event(ev); });
  return loop_.add_fd(engine_->event_fd(), EPOLLIN, [this](std::uint32_t) { on_ring(); });
}

// Device slots or in-flight slots short: reload the programs with twice as
// many device slots (`inflight_needed` 0) or with room for `inflight_needed`
// more in-flight slots. Counters restart from zero (Prometheus sees a counter
// reset); in-flight tracking restarts with the I/O issued from now on.
bool Watchdog::grow_engine(unsigned inflight_needed) {
  const BpfEngine::Options before = engine_opts_;
  if (inflight_needed == 0)
    engine_opts_.max_watch *= 2;
  else
    engine_opts_.inflight_slots =
        std::max(2 * before.inflight_slots, before.inflight_slots + 2 * inflight_needed);
  std::vector<Target*> watched;
  for (auto& [n, t] : targets_)
    if (t.slot >= 0) watched.push_back(&t);
  const char* what = inflight_needed ? "in-flight" : "device";
  if (auto st = open_engine(); !st) {
    engine_opts_ = before;
    log_.error(fmt::format("cannot grow the BPF {} slots beyond {}: {}", what,
                           inflight_needed ? before.inflight_slots : before.max_watch,
                           st.error().message()));
    return false;
  }
  if (inflight_needed)
    log_.warn(fmt::format("BPF in-flight slots short by {}: reloaded with {}; I/O counters restart",
                          inflight_needed, engine_opts_.inflight_slots),
              {{"slots", engine_opts_.inflight_slots}});
  else
    log_.warn(fmt::format("all {} BPF device slots in use: reloaded with {}; I/O counters restart",
                          before.max_watch, engine_opts_.max_watch),
              {{"slots", engine_opts_.max_watch}});
  by_slot_.clear_all();
  for (Target* t : watched) {
    t->slot = -1;  // the old engine's slots are gone with it
    watch(*t);
  }
  return true;
}

void Watchdog::watch(Target& t) {
  const std::uint64_t slow = ns(t.settings.thresholds.slow_io);
  TracedDevice td = traced(t.dev);
  td.histograms = histograms_for(t);
  auto slot = engine_->watch(td, slow, false);
  // Device slots and in-flight slots can both be short (growing the first
  // leaves the second as it was): grow for each shortage in turn.
  for (int grown = 0; !slot && grown < 2; ++grown) {
    const int err = slot.error().err;
    if (err != ENOSPC && err != ENOBUFS) break;
    if (!grow_engine(err == ENOBUFS ? t.dev.tag_slots() : 0)) break;
    slot = engine_->watch(td, slow, false);
  }
  if (!slot && slot.error().err == ENOBUFS) {
    // No room to grow: track the queues that fit (partial beats blind).
    slot = engine_->watch(td, slow, true);
    if (slot)
      log_.warn("only part of " + t.dev.name + "'s in-flight I/O is tracked for stalls",
                {{"target", t.dev.name}});
  }
  if (!slot) {
    log_.error("cannot trace " + t.dev.name + ": " + slot.error().message(),
               {{"target", t.dev.name}});
    return;
  }
  t.slot = *slot;
  by_slot_.set(t.slot, &t);
  t.last_count = 0;
  t.last_errors = 0;
  t.last_slow = t.slow_since_read = 0;
  seed(t);
}

void Watchdog::unwatch(Target& t) {
  if (t.slot < 0) return;
  // The slot is released even when a map update failed; what failed may
  // leave stale counters for the slot's next device, worth a log line.
  if (auto st = engine_->unwatch(t.slot); !st)
    log_.error("unwatching " + t.dev.name + ": " + st.error().message(), {{"target", t.dev.name}});
  by_slot_.clear(t.slot);
  t.slot = -1;
}

Watchdog::Target* Watchdog::by_slot(int slot) { return by_slot_.get(slot); }

Watchdog::Target* Watchdog::by_canary(int id) { return by_canary_.get(id); }

// Feeds completions and errors since the last read to the detector.
// fresh: read the slot now; else use the figures of the last engine refresh.
void Watchdog::refresh_counts(Target& t, std::uint64_t now, bool fresh) {
  if (t.slot < 0) return;
  const DeviceStats* s = nullptr;
  Result<DeviceStats> read = Error{};
  if (fresh) {
    read = engine_->read_stats(t.slot);
    if (read) s = &*read;
  } else {
    s = engine_->stats(t.slot);
  }
  if (!s) return;
  const OpStats all = s->all();
  if (all.count >= t.last_count) t.detector.completions(now, all.count - t.last_count);
  // Slow I/Os by the engine's count, less those ring events fed already: the
  // ring drops events when a burst overflows it, the count loses none.
  if (all.slow >= t.last_slow && all.slow - t.last_slow > t.slow_since_read)
    t.detector.slow_ios(now, all.slow - t.last_slow - t.slow_since_read);
  t.last_slow = all.slow;
  t.slow_since_read = 0;
  t.slow_read_end = monotonic_ns();
  // A path fails only on errors another path might not have (as dm-multipath
  // decides retries): a medium error is the LUN's, and fails the map.
  const bool path = t.kind == TargetKind::kPath;
  std::uint64_t errors = 0;
  unsigned worst = 0;
  for (unsigned i = 1; i < all.errors.size(); ++i) {
    if (path && !is_path_error(i)) continue;
    errors += all.errors[i];
    if (all.errors[i] > all.errors[worst]) worst = i;  // names the dominant status
  }
  if (errors > t.last_errors) t.detector.io_errors(now, errors - t.last_errors, status_name(worst));
  t.last_count = all.count;
  t.last_errors = errors;
  t.stats_read_at = now;
}

void Watchdog::scan_oldest(Target& t, std::uint64_t now) {
  if (t.slot < 0) return;
  auto o = engine_->oldest(t.slot);
  // Half way to the stall threshold, check the start against the request
  // that owns it: a stale one never grows into a false stall.
  if (o && !o->at_least && now > o->start_ns &&
      now - o->start_ns >= ns(t.settings.thresholds.stall) / 2 && engine_->audit(t.slot))
    o = engine_->oldest(t.slot);
  t.detector.oldest_outstanding(now, o ? std::optional(o->start_ns) : std::nullopt,
                                o && o->at_least);
}

// I/O the device already had outstanding (the agent started or reloaded
// during a stall): found with its true start, or counted where the kernel
// gives no way to find it. Seen by the next scan_oldest().
void Watchdog::seed(Target& t) {
  const SeedReport r = engine_->seed(t.slot);
  const std::uint64_t now = monotonic_ns();
  if (r.walked) {
    const double age = r.oldest_ns && now > r.oldest_ns ? (now - r.oldest_ns) / 1e9 : 0;
    const auto msg = fmt::format(
        "{}: {} I/O(s) outstanding when tracing started, oldest {:.3f}s "
        "({} seeded, {} tag slots walked in {} us)",
        t.dev.name, r.found, age, r.seeded, r.scanned, r.bpf_ns / 1000);
    const nlohmann::ordered_json fields{
        {"target", t.dev.name}, {"outstanding", r.found}, {"oldest_s", age}};
    if (r.found)
      log_.info(msg, fields);
    else
      log_.debug(msg, fields);
  } else if (!r.walked && r.kernel_inflight.value_or(0)) {
    log_.warn(fmt::format("{}: {} I/O(s) outstanding since before tracing started, age unknown "
                          "({}): counted as at least the time since now",
                          t.dev.name, *r.kernel_inflight, r.why_not),
              {{"target", t.dev.name}, {"outstanding", *r.kernel_inflight}});
  }
}

void Watchdog::evaluate(Target& t, std::uint64_t now) {
  if (auto tr = t.detector.evaluate(now)) {
    if (t.kind == TargetKind::kPath) scsi_evidence(t, *tr);
    t.state_since = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count()) /
                    1e6;
    t.meter.transition(*tr);
    log_.state(t.identity(), *tr);
    // During a rescan the ports are judged once, at its end: a port must not
    // be blamed while its other paths are still being added.
    if (t.kind == TargetKind::kPath && !syncing_) judge_ports_after(t);
  }
  arm_deadline(t, now);
}

// One timer per target at the instant its state could change by time alone
// (a stall crossing its threshold): no polling at a coarse period.
void Watchdog::arm_deadline(Target& t, std::uint64_t now) {
  const auto next = t.detector.next_deadline(now);
  if (next && t.deadline_timer && *next == t.deadline_at) return;
  if (t.deadline_timer) loop_.cancel(*t.deadline_timer);
  t.deadline_timer.reset();
  if (!next) return;
  t.deadline_at = *next;
  const std::string name = t.dev.name;
  t.deadline_timer = loop_.at(*next, [this, name] {
    auto it = targets_.find(name);
    if (it == targets_.end()) return;
    it->second.deadline_timer.reset();
    const std::uint64_t now = monotonic_ns();
    scan_oldest(it->second, now);
    evaluate(it->second, now);
  });
}

void Watchdog::on_ring() {
  engine_->drain_events();
  // Events lost to a full ring: the devices whose events were all lost
  // learn of their slow I/O from the counts now, not at the next refresh.
  const std::uint64_t now = monotonic_ns();
  if (!check_ring_drops(now)) return;
  last_refresh_ = now;
  if (auto st = engine_->refresh(); !st) return log_.error(st.error().message());
  for (auto& [name, t] : targets_) {
    refresh_counts(t, now, false);
    evaluate(t, now);
  }
}

void Watchdog::on_io_event(const IoEvent& ev) {
  Target* t = by_slot(ev.widx);
  if (!t) return;
  const std::uint64_t now = monotonic_ns();
  // Counts first, so the slow share sees this I/O's neighbours.
  if (now - t->stats_read_at > 1'000'000 || ev.kind == bpf::SW_EV_ERROR)
    refresh_counts(*t, now, true);
  if (ev.kind == bpf::SW_EV_ERROR && is_nvme_path(*t)) nvme_error_seen();
  if (ev.kind == bpf::SW_EV_SLOW) {
    // Counted at once when the last read cannot have counted it (the kernel
    // stamps a completion before counting it, and this one is stamped after
    // the read ended); else the read did, or the next one will: none is
    // counted twice, none lost.
    if (ev.ts_ns >= t->slow_read_end) {
      t->detector.slow_ios(now, 1);
      ++t->slow_since_read;
    }
    t->detector.slow_latency(now, ev.total_ns);
  }
  // The kernel's own times of this I/O, for the impairment clock.
  const std::uint64_t start =
      ev.total_ns && ev.total_ns < ev.ts_ns ? ev.ts_ns - ev.total_ns : ev.ts_ns;
  t->detector.io_event(start, ev.ts_ns, ev.kind == bpf::SW_EV_ERROR);
  evaluate(*t, now);
}

// True when events were lost since the last check. A full ring loses them
// by the thousand in a burst: one line when the losses start, not one per
// event (the metric counts every one). States do
// not depend on the events; the evidence's max latency and the incident
// times of the lost I/Os do.
bool Watchdog::check_ring_drops(std::uint64_t now) {
  const std::uint64_t drops = engine_->counters().ringbuf_drops;
  // A grown engine starts its counters from zero.
  const std::uint64_t fresh = drops >= ring_drops_seen_ ? drops - ring_drops_seen_ : drops;
  ring_drops_seen_ = drops;
  if (!fresh) return false;
  const bool episode = !ring_drops_at_ || now - ring_drops_at_ >= 60'000'000'000ull;
  ring_drops_at_ = now;
  if (!episode) return true;
  log_.warn(fmt::format("BPF ring buffer full: {} slow/error I/O event(s) lost (states do not "
                        "depend on them; the metric counts every loss, "
                        "tracing.ring_buffer_bytes sizes the ring)",
                        fresh),
            {{"dropped", fresh}, {"ring_buffer_bytes", engine_opts_.ring_buffer_bytes}});
  return true;
}

std::uint64_t Watchdog::tick_ns() const {
  // Learn of new outstanding I/O well before it could cross the threshold;
  // the crossing itself is caught by the per-target deadline timer.
  Duration shortest = cfg_.thresholds.stall;
  for (const auto& [n, t] : targets_) shortest = std::min(shortest, t.settings.thresholds.stall);
  return std::clamp<std::uint64_t>(ns(shortest) / 10, 5'000'000, 100'000'000);
}

void Watchdog::tick() {
  const std::uint64_t now = monotonic_ns();
  // Statistics once a second, all devices in one batch read.
  const bool counts = now - last_refresh_ >= 1'000'000'000ull;
  if (counts) {
    last_refresh_ = now;
    if (auto st = engine_->refresh(); !st) log_.error(st.error().message());
    check_ring_drops(now);
  }
  engine_->recheck_outstanding();
  for (auto& [name, t] : targets_) {
    scan_oldest(t, now);
    if (counts) refresh_counts(t, now, false);
    if (counts && t.kind == TargetKind::kPath) read_scsi_counters(t);
    evaluate(t, now);
  }
  if (now - last_rescan_ >= ns(cfg_.rescan)) {
    sync_devices();
    refresh_all_dm(now);  // cross-check dm's own view periodically
  }
  tick_timer_ = loop_.at(now + tick_ns(), [this] { tick(); });
}

void Watchdog::run_canaries() {
  const std::uint64_t next = prober_->run_due(monotonic_ns());
  if (canary_timer_ && next == canary_next_) return;
  if (canary_timer_) loop_.cancel(*canary_timer_);
  canary_next_ = next;
  canary_timer_ = loop_.at(next, [this] {
    canary_timer_.reset();
    run_canaries();
  });
}

}  // namespace sanwatch
