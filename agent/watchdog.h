// The agent's core: owns the BPF engine, the canary prober and one detector
// per watched device, all driven by one event loop thread. Nothing here
// blocks on a watched device: the engine is read through maps and an mmap,
// canaries go through io_uring.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf_engine.h"
#include "canary.h"
#include "config.h"
#include "detector.h"
#include "event_log.h"
#include "event_loop.h"

namespace sanwatch {

class Watchdog {
 public:
  struct Target {
    BlockDevice dev;
    DeviceSettings settings;
    Detector detector;
    bool is_path = false;  // a path below a multipath map
    bool present = true;
    int slot = -1;                 // BPF engine slot, -1 when not watched
    int canary = -1;               // canary id, -1 when none
    std::uint64_t last_count = 0;  // completions already fed to the detector
    std::uint64_t last_errors = 0;
    std::uint64_t stats_read_at = 0;
    std::optional<EventLoop::TimerId> deadline_timer;
    std::uint64_t deadline_at = 0;
    nlohmann::ordered_json identity() const;
  };

  Watchdog(Config cfg, EventLog& log, EventLoop& loop, std::string root = "/");
  ~Watchdog();

  // Loads BPF, selects devices, starts canaries and timers.
  Status start(bool verbose = false);
  // Applies a new configuration (already validated).
  void reload(Config cfg);

  const std::map<std::string, Target>& targets() const { return targets_; }
  const Config& config() const { return cfg_; }
  BpfEngine& engine() { return *engine_; }
  const CanaryProber& canaries() const { return *prober_; }

 private:
  void sync_devices();
  void add_target(const BlockDevice& d, bool is_path);
  void update_target(Target& t, const BlockDevice& d, bool is_path);
  void set_present(Target& t, bool present, std::uint64_t now);
  void watch(Target& t);
  void unwatch(Target& t);
  void refresh_counts(Target& t, std::uint64_t now);
  void scan_oldest(Target& t, std::uint64_t now);
  void evaluate(Target& t, std::uint64_t now);
  void arm_deadline(Target& t, std::uint64_t now);
  void on_ring();
  void on_io_event(const IoEvent& ev);
  void tick();
  void run_canaries();
  Target* by_slot(int slot);
  Target* by_canary(int id);
  std::uint64_t tick_ns() const;

  Config cfg_;
  EventLog& log_;
  EventLoop& loop_;
  SysfsBlock sys_;
  std::string root_;
  std::unique_ptr<BpfEngine> engine_;
  std::unique_ptr<CanaryProber> prober_;
  std::map<std::string, Target> targets_;  // by kernel name
  std::optional<EventLoop::TimerId> tick_timer_, canary_timer_, rescan_timer_;
  std::uint64_t canary_next_ = 0;
  std::uint64_t last_rescan_ = 0;
};

}  // namespace sanwatch
