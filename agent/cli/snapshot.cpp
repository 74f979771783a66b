#include "cli/snapshot.h"

#include <sys/utsname.h>

#include <fstream>

#include "base/version.h"

namespace sanwatch {
namespace {

std::string kernel_release() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

bool bpf_stats_enabled() {
  std::ifstream f("/proc/sys/kernel/bpf_stats_enabled");
  int v = 0;
  return f >> v && v == 1;
}

std::vector<std::string> state_names(TargetKind k) {
  std::vector<std::string> out;
  for (Health h : states_of(k)) out.emplace_back(health_name(h));
  return out;
}

TargetMetrics target_of(Watchdog& w, const Watchdog::Target& t) {
  TargetMetrics m;
  m.name = t.dev.name;
  m.label = t.label();
  m.target_type = std::string(kind_name(t.kind));
  m.dm_name = t.dev.dm_name;
  // A stacked path (dm-delay over sdb) has no wwid of its own: the disk's.
  m.wwid = t.dev.wwid.empty() ? t.path.wwid : t.dev.wwid;
  m.present = t.present;
  m.histograms = t.kind != TargetKind::kPath || w.config().metrics.path_histograms;
  m.state = std::string(health_name(t.detector.state()));
  m.states = state_names(t.kind);
  m.state_since = t.state_since;
  m.map = t.map;
  if (t.kind == TargetKind::kPath) {
    m.path_up = t.dm_known ? t.dm_active : t.path.scsi_state == "running";
    m.transitions = t.transitions;
    m.array = t.path.vendor.empty() ? "" : t.path.array();
    m.target_port = t.path.target_port;
    m.hctl = t.path.hctl;
    m.transport = t.path.transport;
    m.alua_state = t.path.alua_state;
  }
  m.valid_paths = t.valid_paths;
  m.total_paths = t.total_paths;
  if (t.slot >= 0) {
    if (const DeviceStats* s = w.engine().stats(t.slot)) m.io = *s;
    m.oldest_start_ns = w.engine().oldest_outstanding_ns(t.slot);
  }
  if (t.canary >= 0) {
    if (const CanaryStats* c = w.canaries().stats(t.canary)) m.canary = *c;
    m.canary_since_ns = w.canaries().outstanding_since(t.canary);
    m.canary_deadline_ns = static_cast<std::uint64_t>(t.settings.canary.deadline.count());
  }
  return m;
}

}  // namespace

MetricsSnapshot take_snapshot(Watchdog& w, const AlertDispatcher* alerts) {
  MetricsSnapshot s;
  s.version = kVersion;
  s.kernel = kernel_release();
  s.device_histograms = w.config().metrics.device_histograms;
  (void)w.engine().refresh();  // one batch read for all targets; a failure keeps the last
  for (const auto& [name, t] : w.targets()) s.targets.push_back(target_of(w, t));
  s.engine = w.engine().counters();
  s.bpf_stats_enabled = bpf_stats_enabled();
  if (s.bpf_stats_enabled) s.programs = w.engine().program_stats();
  if (alerts) s.sinks = alerts->stats();
  if (const UeventCounters* u = w.uevent_counters()) s.uevents_dropped = u->dropped_total();
  return s;
}

}  // namespace sanwatch
