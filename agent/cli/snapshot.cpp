// SPDX-License-Identifier: Apache-2.0
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

}  // namespace

MetricsSnapshot take_snapshot(Watchdog& w, const AlertDispatcher* alerts) {
  MetricsSnapshot s;
  s.version = kVersion;
  s.kernel = kernel_release();
  s.device_histograms = w.config().metrics.device_histograms;
  (void)w.engine().refresh();  // one batch read for all targets; a failure keeps the last
  s.targets = w.snapshot();
  s.engine = w.engine().counters();
  s.slots = w.engine().slot_usage();
  s.bpf_stats_enabled = bpf_stats_enabled();
  if (s.bpf_stats_enabled) s.programs = w.engine().program_stats();
  if (alerts) s.sinks = alerts->stats();
  if (const UeventCounters* u = w.uevent_counters()) {
    s.uevents_dropped = u->dropped_total();
    s.uevents_received = u->received;
    s.uevent_overflows = u->overflows;
    for (std::size_t i = 0; i < u->dropped.size(); ++i)
      s.uevents_dropped_by_reason[std::string(uevent_drop_name(static_cast<UeventDrop>(i)))] =
          u->dropped[i];
  }
  return s;
}

}  // namespace sanwatch
