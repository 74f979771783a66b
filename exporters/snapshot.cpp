#include "snapshot.h"

#include <sys/utsname.h>

#include <fstream>

#include "version.h"

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
  m.target_type = t.is_path ? "path" : "device";
  m.dm_name = t.dev.dm_name;
  m.wwid = t.dev.wwid;
  m.present = t.present;
  m.histograms = !t.is_path || w.config().metrics.path_histograms;
  m.state = std::string(health_name(t.detector.state()));
  m.states = state_names(t.is_path ? TargetKind::kPath : TargetKind::kDevice);
  if (t.slot >= 0) {
    if (auto s = w.engine().read_stats(t.slot)) m.io = std::move(s).value();
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
  for (const auto& [name, t] : w.targets()) s.targets.push_back(target_of(w, t));
  s.engine = w.engine().counters();
  s.bpf_stats_enabled = bpf_stats_enabled();
  if (s.bpf_stats_enabled) s.programs = w.engine().program_stats();
  if (alerts) s.sinks = alerts->stats();
  return s;
}

}  // namespace sanwatch
