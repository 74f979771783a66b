// SPDX-License-Identifier: Apache-2.0
// The agent's core: owns the BPF engine, the canary prober and one detector
// per watched device, all driven by one event loop thread. Nothing here
// blocks on a watched device: the engine is read through maps and an mmap,
// canaries go through io_uring.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "detect/availability_meter.h"
#include "detect/canary.h"
#include "detect/config.h"
#include "detect/detector.h"
#include "detect/event_log.h"
#include "detect/target_snapshot.h"
#include "host/dm_status.h"
#include "host/scsi_counters.h"
#include "host/topology.h"
#include "host/uevent.h"
#include "kernel/bpf_engine.h"
#include "kernel/nvme_aen.h"

namespace sanwatch {

class Watchdog {
 public:
  // What a path below a multipath map owns.
  struct PathPart {
    std::string map;  // label of its map (mpatha)
    PathInfo info;    // SCSI/transport identity
    // Multipath state as device-mapper reports it (status ioctl, uevents).
    bool dm_known = false;  // dm has reported on this path
    bool dm_active = true;  // 'A' (else 'F')
    unsigned dm_fail_count = 0;
    std::uint64_t transitions = 0;  // active <-> failed changes seen
    // Native NVMe: usable by ANA and controller state (nvme_state.h), and
    // the unknown ANA state already reported, so it is logged once.
    bool nvme_usable = true;
    std::string warned_ana;
    // ALUA: when the last ASYMMETRIC ACCESS STATE CHANGED unit attention
    // arrived (0: none), and whether re-reads of access_state are pending.
    std::uint64_t alua_ua_at = 0;
    bool alua_rechecks_armed = false;
    // The path's current unhealthy episode is an ALUA transition's (its
    // I/O errors keep it failed for the error window after the array is
    // back): its port is not to blame for it.
    bool alua_episode = false;
    // When it last failed in dm or turned unhealthy with its transport up
    // (0: never): the start of its grace for ALUA news.
    std::uint64_t alua_suspect_at = 0;
    // SCSI command counters: the files kept open, the last read (for
    // /metrics) and the values at the path's previous state change.
    std::optional<ScsiCounterFiles> scsi_files;
    std::optional<ScsiCounters> scsi_now, scsi_at_change;
  };
  // What a multipath map owns.
  struct MapPart {
    int valid_paths = -1, total_paths = -1;
    bool queue_if_no_path = false;
    bool dm_status_warned = false;  // status ioctl failure reported
    // The priority group carrying I/O (dm status: the group in state A,
    // else the next one), 1-based, 0 unknown; and its paths.
    unsigned active_group = 0;
    std::vector<std::string> active_paths;
  };
  // Every target (device, path or map): its device, settings, state machine,
  // and what traces and probes it.
  struct Target {
    BlockDevice dev;
    DeviceSettings settings;
    Detector detector;
    AvailabilityMeter meter;  // seconds per state, down seconds
    TargetKind kind = TargetKind::kDevice;
    PathPart path;           // paths only
    MapPart mpath;           // maps only
    double state_since = 0;  // wall-clock time (s) of the last state change
    bool present = true;
    int slot = -1;                 // BPF engine slot, -1 when not watched
    int canary = -1;               // canary id, -1 when none
    std::uint64_t last_count = 0;  // completions already fed to the detector
    std::uint64_t last_errors = 0;
    // Slow I/Os: the engine's exact count at the last read, those fed
    // since from ring events, and a time after that read (events of I/Os
    // completed later cannot be in it).
    std::uint64_t last_slow = 0, slow_since_read = 0, slow_read_end = 0;
    std::uint64_t stats_read_at = 0;
    std::optional<EventLoop::TimerId> deadline_timer;
    std::uint64_t deadline_at = 0;
    TargetIdentity identity() const;
    // The name operators know: the dm name for maps, else the kernel name.
    const std::string& label() const {
      return kind == TargetKind::kMap && !dev.dm_name.empty() ? dev.dm_name : dev.name;
    }
  };

  Watchdog(Config cfg, EventLog& log, EventLoop& loop, std::string root = "/");
  ~Watchdog();

  // Loads BPF, selects devices, starts canaries and timers. In-flight slots
  // are sized for the disks present unless `inflight_slots` is given (tests).
  Status start(bool verbose = false, unsigned inflight_slots = 0);
  // Applies a new configuration (already validated).
  void reload(Config cfg);

  const std::map<std::string, Target>& targets() const { return targets_; }
  // Every target as plain values (for /metrics); engine statistics as of the
  // last refresh.
  std::vector<TargetSnapshot> snapshot() const;
  const Config& config() const { return cfg_; }
  BpfEngine& engine() { return *engine_; }
  const CanaryProber& canaries() const { return *prober_; }

 private:
  TargetSnapshot snapshot_of(const Target& t) const;
  // Latency histograms kept (in the kernel) and exported for the target:
  // every one but paths, unless metrics.path_histograms.
  bool histograms_for(const Target& t) const;
  void sync_devices();
  void add_target(const BlockDevice& d, const Topology& topo);
  void update_target(Target& t, const BlockDevice& d, const Topology& topo);
  // Multipath (watchdog_multipath.cpp).
  void start_uevents();
  void on_uevents();
  void on_dm_event(const DmPathEvent& ev, std::uint64_t now);
  void on_block_uevent(const Uevent& ev, std::uint64_t now);
  void schedule_dm_check(const Target& map);
  void run_dm_checks();
  void refresh_dm(Target& map, std::uint64_t now);
  void refresh_all_dm(std::uint64_t now);
  void read_scsi_state(Target& path);
  void apply_path_state(Target& path, std::uint64_t now, const std::string& why);
  void set_dm_path(Target& path, bool active, std::uint64_t now);
  void schedule_rescan(std::uint64_t delay_ns);
  std::uint64_t rescan_delay(std::uint64_t now) const;
  void update_ports();
  // Native NVMe multipath (watchdog_nvme.cpp).
  static bool is_nvme_head(const Target& t);
  static bool is_nvme_path(const Target& t);
  void read_nvme_state(Target& path);
  void apply_nvme_path_state(Target& path, std::uint64_t now);
  void refresh_nvme(Target& head, std::uint64_t now);
  bool refresh_all_nvme(std::uint64_t now);
  void nvme_poll();
  void start_nvme_poll();
  void ensure_aen();
  void on_aen();
  void aen_reread();
  void nvme_error_seen();
  // ALUA and SCSI counters (watchdog_alua.cpp).
  void on_scsi_ua(const ScsiUnitAttention& ua, std::uint64_t now);
  void arm_alua_recheck(const std::string& name, std::size_t step);
  void recheck_access_state(Target& path, std::uint64_t now, const char* cause);
  std::optional<std::string> reread_access_state(Target& path);
  void schedule_port_check();
  void alua_suspect(Target& path, std::uint64_t now);
  void judge_ports_after(Target& path);
  void access_state_changed(Target& path, const std::string& from, const char* cause);
  void note_active_group(Target& map, const MpathStatus& status);
  bool alua_excused(const Target& path, std::uint64_t now) const;
  bool alua_standby(const Target& path, std::uint64_t now) const;
  int standby_paths(const Target& map, std::uint64_t now);
  void read_scsi_counters(Target& path);
  void scsi_evidence(Target& path, Transition& tr);
  Target* by_dev(const DevId& id);
  Target* map_target(const std::string& label);
  std::vector<Target*> paths_of(const Target& map);
  void set_present(Target& t, bool present, std::uint64_t now);
  Status open_engine();
  bool grow_engine(unsigned inflight_needed);
  void watch(Target& t);
  void unwatch(Target& t);
  void refresh_counts(Target& t, std::uint64_t now, bool fresh);
  void scan_oldest(Target& t, std::uint64_t now);
  void seed(Target& t);
  void evaluate(Target& t, std::uint64_t now);
  void arm_deadline(Target& t, std::uint64_t now);
  void on_ring();
  void on_io_event(const IoEvent& ev);
  bool check_ring_drops(std::uint64_t now);
  void tick();
  void run_canaries();
  Target* by_slot(int slot);
  Target* by_canary(int id);
  void set_canary(Target& t, int id);
  void remove_canary(Target& t);
  std::uint64_t tick_ns() const;

  Config cfg_;
  EventLog& log_;
  EventLoop& loop_;
  SysfsBlock sys_;
  BpfEngine::Options engine_opts_;
  std::unique_ptr<BpfEngine> engine_;
  std::unique_ptr<CanaryProber> prober_;
  std::map<std::string, Target> targets_;  // by kernel name
  // Small dense ids (canary ids, engine slots) -> target, so callbacks find
  // theirs in O(1); std::map nodes do not move, so the pointers stay valid.
  class TargetIndex {
   public:
    Target* get(int id) const {
      return id >= 0 && static_cast<std::size_t>(id) < v_.size() ? v_[id] : nullptr;
    }
    void set(int id, Target* t) {
      if (static_cast<std::size_t>(id) >= v_.size()) v_.resize(id + 1, nullptr);
      v_[id] = t;
    }
    void clear(int id) {
      if (get(id)) v_[id] = nullptr;
    }
    void clear_all() { v_.assign(v_.size(), nullptr); }

   private:
    std::vector<Target*> v_;
  };
  TargetIndex by_canary_;  // canary id -> target
  TargetIndex by_slot_;    // BPF engine slot -> target
  std::optional<EventLoop::TimerId> tick_timer_, canary_timer_, rescan_timer_;
  std::uint64_t canary_next_ = 0;
  std::uint64_t last_rescan_ = 0;
  std::uint64_t last_refresh_ = 0;
  // Ring buffer losses: the engine's counter as last read, and when it last
  // grew (one log line per episode of losses less than a minute apart).
  std::uint64_t ring_drops_seen_ = 0, ring_drops_at_ = 0;
  bool syncing_ = false;  // inside sync_devices(): port health waits for its end  // engine
                          // statistics, for every target at once
  std::optional<UeventListener> uevents_;
  std::optional<EventLoop::TimerId> rescan_soon_;
  std::set<std::string> dm_checks_;  // maps whose dm status to re-read, by kernel name
  std::optional<EventLoop::TimerId> dm_check_timer_;
  std::string dm_control_ = "/dev/mapper/control";
  std::map<std::string, bool> port_degraded_;  // by target port
  // NVMe: the state poll, the AEN tracer (null until attached; when its
  // attachment was last tried) and the re-reads after an AEN.
  std::optional<EventLoop::TimerId> nvme_poll_timer_, aen_timer_, nvme_error_timer_;
  std::unique_ptr<NvmeAenTracer> aen_;
  std::uint64_t aen_tried_ = 0, aen_started_ = 0;
  std::size_t aen_step_ = 0;
  std::optional<EventLoop::TimerId> port_check_timer_;

 public:
  const UeventCounters* uevent_counters() const {
    return uevents_ ? &uevents_->counters() : nullptr;
  }
};

}  // namespace sanwatch
