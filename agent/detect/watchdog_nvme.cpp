// SPDX-License-Identifier: Apache-2.0
// The watchdog's native NVMe multipath side: a head (nvme0n1) is a map over
// its hidden paths (nvme0c0n1...), and a path is usable only while its ANA
// state is optimized or non-optimized and its controller is live.
//
// The kernel sends no uevent when either changes (tests/lab/README.md,
// nvme_tcp), so the agent learns them from:
//   - nvme:nvme_async_event, traced by BPF where the tracepoint exists: an
//     ANA change reaches the host as an AEN, after which the kernel re-reads
//     the ANA log and updates ana_state a few ms later, so the AEN starts a
//     short burst of re-reads rather than one;
//   - an I/O error on an NVMe path (the controller may be resetting);
//   - a poll of the few ana_state and controller state files (controller
//     state has no event at all), well below the sysfs rescan period.
#include <fmt/format.h>
#include <sys/epoll.h>

#include <array>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "detect/watchdog.h"
#include "host/nvme_state.h"

namespace sanwatch {
namespace {

// Two small reads per NVMe path, and only while NVMe heads are watched.
constexpr std::uint64_t kNvmePollNs = 100'000'000;
// Re-reads after an AEN, from its arrival: the kernel updates ana_state
// only after reading the ANA log page, 5-30 ms after the AEN under TCG in
// the lab; dense at first (each re-read is two small files per path), the
// later ones cover a slow target's log page.
// The first at once: a late wake-up (10 ms under TCG) may find it done.
constexpr std::array<std::uint64_t, 14> kAenRereadNs = {
    0,          2'000'000,  4'000'000,  6'000'000,  8'000'000,  10'000'000, 13'000'000,
    16'000'000, 20'000'000, 25'000'000, 30'000'000, 40'000'000, 80'000'000, 160'000'000};

}  // namespace

bool Watchdog::is_nvme_head(const Target& t) {
  return t.kind == TargetKind::kMap && t.dev.dm_name.empty() && t.dev.name.starts_with("nvme");
}

bool Watchdog::is_nvme_path(const Target& t) {
  return t.kind == TargetKind::kPath && t.path.info.transport == "nvme";
}

// Fresh from sysfs; a file that cannot be read (path or controller going
// away) keeps the last value: the rescan decides about presence.
void Watchdog::read_nvme_state(Target& path) {
  const NvmePathState s = read_nvme_path_state(sys_, path.dev.name);
  if (s.ana_state) path.path.info.alua_state = *s.ana_state;
  if (s.ctrl_state) path.path.info.scsi_state = *s.ctrl_state;
}

void Watchdog::apply_nvme_path_state(Target& path, std::uint64_t now) {
  const PathInfo& p = path.path.info;
  const NvmePathVerdict v = judge_nvme_path(p.alua_state, p.scsi_state);
  if (v.unknown_ana && path.path.warned_ana != p.alua_state)
    log_.warn(fmt::format("{}: ANA state '{}' is none of optimized, non-optimized, inaccessible, "
                          "persistent-loss, change: the path counts as not usable",
                          path.dev.name, p.alua_state),
              {{"target", path.dev.name}, {"ana_state", p.alua_state}});
  path.path.warned_ana = v.unknown_ana ? p.alua_state : "";
  if (path.path.nvme_usable != v.usable) {
    // When the agent saw it: state events wait for the recovery hold.
    log_.debug(fmt::format("{}: {}", path.dev.name, v.usable ? "usable again" : v.reason),
               {{"target", path.dev.name}, {"usable", v.usable}});
    ++path.path.transitions;
    if (v.usable) path.detector.path_reinstated(now);  // fail/reinstate cycles: flapping
  }
  path.path.nvme_usable = v.usable;
  path.detector.path_failed(now, !v.usable, v.reason);
}

// Every path's state first, then the head's count, then the events: the
// head's change must not wait behind the paths' port-health judgement,
// made once at the end as a rescan does.
void Watchdog::refresh_nvme(Target& head, std::uint64_t now) {
  int valid = 0, total = 0;
  std::vector<Target*> paths;
  for (Target* p : paths_of(head)) {
    if (!is_nvme_path(*p)) continue;
    ++total;
    if (p->present) read_nvme_state(*p);
    apply_nvme_path_state(*p, now);
    valid += p->present && p->path.nvme_usable;
    paths.push_back(p);
  }
  head.mpath.valid_paths = valid;
  head.mpath.total_paths = total;
  head.detector.valid_paths(now, valid, total);
  const bool was_syncing = std::exchange(syncing_, true);
  for (Target* p : paths) evaluate(*p, now);
  evaluate(head, now);
  syncing_ = was_syncing;
  if (!syncing_) update_ports();
}

bool Watchdog::refresh_all_nvme(std::uint64_t now) {
  bool any = false;
  EventLog::Batch batch(log_);
  for (auto& [n, t] : targets_)
    if (is_nvme_head(t) && t.present) {
      refresh_nvme(t, now);
      any = true;
    }
  return any;
}

// Runs only while NVMe heads are watched (start_nvme_poll when one appears):
// a host without any pays no wake-ups for it.
void Watchdog::nvme_poll() {
  nvme_poll_timer_.reset();
  const std::uint64_t now = monotonic_ns();
  if (!refresh_all_nvme(now)) return;
  ensure_aen();
  nvme_poll_timer_ = loop_.at(now + kNvmePollNs, [this] { nvme_poll(); });
}

void Watchdog::start_nvme_poll() {
  if (!nvme_poll_timer_)
    nvme_poll_timer_ = loop_.at(monotonic_ns() + kNvmePollNs, [this] { nvme_poll(); });
}

// The AEN tracer is attached once NVMe heads exist (nvme_core, a module,
// may be loaded after the agent starts); a failure is logged once, then
// retried quietly at each poll with a head present (e.g. a module loaded
// later) at most once per rescan period.
void Watchdog::ensure_aen() {
  if (aen_) return;
  const std::uint64_t now = monotonic_ns();
  if (aen_tried_ && now - aen_tried_ < static_cast<std::uint64_t>(cfg_.rescan.count())) return;
  const bool first = !aen_tried_;
  aen_tried_ = now;
  auto w = NvmeAenTracer::open();
  if (!w) {
    const std::string msg =
        fmt::format("no NVMe async event tracing ({}): ANA changes are seen by polling every {} ms",
                    w.error().message(), kNvmePollNs / 1'000'000);
    if (first)
      log_.info(msg);
    else
      log_.debug(msg);
    return;
  }
  aen_ = std::move(w).value();
  if (auto st = loop_.add_fd(aen_->event_fd(), EPOLLIN, [this](std::uint32_t) { on_aen(); }); !st) {
    log_.warn("NVMe async event tracing: " + st.error().message());
    aen_.reset();
    return;
  }
  log_.info("tracing NVMe async events (ANA changes)");
}

void Watchdog::on_aen() {
  const std::uint64_t now = monotonic_ns();
  std::uint32_t last = 0;
  std::uint64_t traced = 0;
  const unsigned n = aen_->drain([&](std::uint32_t result, std::uint64_t ts) {
    last = result;
    traced = ts;
  });
  if (!n) return;
  // traced_ns: when the kernel hit the tracepoint; received_ns: when we woke.
  log_.debug(fmt::format("NVMe async event 0x{:06x}", last),
             {{"aen_result", last}, {"traced_ns", traced}, {"received_ns", now}});
  aen_started_ = now;
  aen_step_ = 0;
  if (aen_timer_) loop_.cancel(*aen_timer_);
  aen_timer_ = loop_.at(now + kAenRereadNs[0], [this] { aen_reread(); });
}

void Watchdog::aen_reread() {
  aen_timer_.reset();
  refresh_all_nvme(monotonic_ns());
  if (++aen_step_ < kAenRereadNs.size())
    aen_timer_ = loop_.at(aen_started_ + kAenRereadNs[aen_step_], [this] { aen_reread(); });
}

// An error on a path: its controller may be resetting; look now.
void Watchdog::nvme_error_seen() {
  if (nvme_error_timer_) return;
  nvme_error_timer_ = loop_.at(monotonic_ns(), [this] {
    nvme_error_timer_.reset();
    refresh_all_nvme(monotonic_ns());
  });
}

}  // namespace sanwatch
