// SPDX-License-Identifier: Apache-2.0
#include "cli/hist_cmd.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <cmath>
#include <cstdio>

#include "base/clock.h"
#include "base/unique_fd.h"
#include "cli/hist_report.h"
#include "detect/traced_device.h"
#include "kernel/bpf_engine.h"

namespace sanwatch {
namespace {

struct Watched {
  SysfsBlock::Resolved dev;
  int slot = -1;
  DeviceStats last;
  unsigned at_start = 0;  // outstanding when tracing began
};

std::string watchable_list(const SysfsBlock& sys) {
  auto disks = sys.disks();
  std::string names;
  if (disks)
    for (const auto& d : *disks)
      if (watchable_by_default(d, true)) names += (names.empty() ? "" : ", ") + d.name;
  return names.empty() ? "(none found)" : names;
}

Result<std::vector<Watched>> select_devices(const HistOptions& o, const SysfsBlock& sys) {
  std::vector<Watched> out;
  if (o.devices.empty()) {
    auto disks = sys.disks();
    if (!disks) return disks.error();
    for (auto& d : *disks)
      if (watchable_by_default(d, true)) out.push_back({{d, d.name, ""}, -1, {}});
    if (out.empty()) return Error{ENODEV, "no watchable block devices found"};
    return out;
  }
  for (const auto& spec : o.devices) {
    auto r = sys.resolve(spec);
    if (!r) return Error{ENODEV, r.error().context + "; watchable devices: " + watchable_list(sys)};
    bool dup = false;
    for (const auto& w : out) dup |= w.dev.disk.id == r->disk.id;
    if (!dup) out.push_back({std::move(r).value(), -1, {}});
  }
  return out;
}

std::vector<HistEntry> entries_for(const Watched& w, const DeviceStats& d, HistEntry base,
                                   const std::string& op_filter) {
  base.device = w.dev.disk.name;
  base.partition = w.dev.partition;
  base.dm_name = w.dev.disk.dm_name;
  base.outstanding_at_start = w.at_start;
  std::vector<HistEntry> out;
  if (op_filter == "all") {
    base.op = "all";
    base.stats = d.all();
    return {base};
  }
  for (int i = 0; i < kNrOps; ++i) {
    const Op op = static_cast<Op>(i);
    const bool wanted = op_filter.empty() ? d.op(op).count > 0 : op_name(op) == op_filter;
    if (!wanted) continue;
    HistEntry e = base;
    e.op = std::string(op_name(op));
    e.stats = d.op(op);
    out.push_back(std::move(e));
  }
  // A device with no completions still reports, so a stall shows its age.
  if (out.empty()) {
    base.op = op_filter.empty() ? "all" : op_filter;
    out.push_back(base);
  }
  return out;
}

class HistSession {
 public:
  HistSession(const HistOptions& o, BpfEngine& e, std::vector<Watched> w)
      : opts_(o), engine_(e), watched_(std::move(w)), start_ns_(monotonic_ns()) {}

  Status report() {
    engine_.recheck_outstanding();
    const std::uint64_t now = monotonic_ns();
    HistReport r{rfc3339_now(), (now - start_ns_) / 1e9, opts_.device_time, {}};
    start_ns_ = now;
    for (auto& w : watched_) {
      auto s = engine_.read_stats(w.slot);
      if (!s) return s.error();
      if (auto st = engine_.reset_maxima(w.slot); !st) return st;
      const DeviceStats delta = s->minus(w.last);
      w.last = *s;
      HistEntry base;
      auto oldest = engine_.oldest(w.slot);
      // An operator reads every age printed: check any against its request.
      if (oldest && !oldest->at_least && engine_.audit(w.slot)) oldest = engine_.oldest(w.slot);
      if (oldest && oldest->start_ns < now) {
        base.inflight_oldest_s = (now - oldest->start_ns) / 1e9;
        base.inflight_at_least = oldest->at_least;
        base.preexisting = oldest->preexisting;
      }
      for (auto& e : entries_for(w, delta, base, opts_.op)) r.entries.push_back(std::move(e));
    }
    std::string text = opts_.json ? report_json(r).dump() + "\n" : report_text(r);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return {};
  }

  // What was outstanding before tracing began: found in the tag tables
  // (true ages) or, where the kernel gives no walk, counted.
  void seed() {
    for (auto& w : watched_) {
      const SeedReport r = engine_.seed(w.slot);
      const std::uint64_t now = monotonic_ns();
      StartOutstanding s{w.dev.disk.name, r.found, 0, r.walked, r.why_not};
      if (!r.walked) s.count = r.kernel_inflight.value_or(0);
      if (auto oldest = engine_.oldest(w.slot);
          oldest && !oldest->at_least && now > oldest->start_ns)
        s.oldest_s = (now - oldest->start_ns) / 1e9;
      w.at_start = s.count;
      if (!opts_.json) std::fputs(start_outstanding_text(s).c_str(), stdout);
    }
    std::fflush(stdout);
  }

  Status prime() {
    for (auto& w : watched_) {
      auto s = engine_.read_stats(w.slot);
      if (!s) return s.error();
      w.last = *s;
    }
    return {};
  }

 private:
  const HistOptions& opts_;
  BpfEngine& engine_;
  std::vector<Watched> watched_;
  std::uint64_t start_ns_;
};

Result<UniqueFd> signal_fd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  // A shell starts background jobs with SIGINT ignored, and an ignored signal
  // never reaches a signalfd: restore the defaults before blocking.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr)) return errno_error("blocking signals");
  UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) return errno_error("signalfd");
  return fd;
}

Result<UniqueFd> interval_timer(double seconds) {
  UniqueFd fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!fd.valid()) return errno_error("timerfd_create");
  const auto ns = static_cast<long long>(std::llround(seconds * 1e9));
  itimerspec its{};
  its.it_interval = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  its.it_value = its.it_interval;
  if (timerfd_settime(fd.get(), 0, &its, nullptr)) return errno_error("timerfd_settime");
  return fd;
}

// Reports every interval until the count is reached or a signal arrives; a
// signal reports the partial interval first.
Status loop(const HistOptions& o, HistSession& session, const UniqueFd& sig) {
  UniqueFd timer;
  if (o.interval_s > 0) {
    auto t = interval_timer(o.interval_s);
    if (!t) return t.error();
    timer = std::move(t).value();
  }
  int reports = 0;
  pollfd fds[2] = {{sig.get(), POLLIN, 0}, {timer.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, timer.valid() ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return errno_error("poll");
    }
    if (fds[0].revents & POLLIN) return session.report();
    if (timer.valid() && (fds[1].revents & POLLIN)) {
      std::uint64_t ticks;
      if (read(timer.get(), &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
        return errno_error("reading timerfd");
      if (auto st = session.report(); !st) return st;
      if (o.count > 0 && ++reports >= o.count) return {};
    }
  }
}

}  // namespace

int run_hist(const HistOptions& o) {
  if (!o.op.empty() && o.op != "all" && !parse_op(o.op)) {
    fmt::print(stderr, "sanwatch hist: unknown op '{}' (read, write, flush, discard, other, all)\n",
               o.op);
    return 2;
  }
  SysfsBlock sys(o.root);
  auto selected = select_devices(o, sys);
  if (!selected) {
    fmt::print(stderr, "sanwatch hist: {}\n", selected.error().message());
    return 2;
  }
  BpfEngine::Options eo;
  eo.verbose = o.verbose;
  eo.force_raw_tp = o.force_raw_tp;
  eo.no_seed = o.no_seed;
  eo.sysfs_root = o.root.empty() ? "/" : o.root;
  eo.max_watch = static_cast<unsigned>(selected->size());
  eo.inflight_slots = 0;
  for (const auto& w : *selected) eo.inflight_slots += w.dev.disk.tag_slots();
  eo.inflight_slots = std::max(eo.inflight_slots, 1u);
  auto engine = BpfEngine::open(eo);
  if (!engine) {
    fmt::print(stderr, "sanwatch hist: {}\n", engine.error().message());
    return 1;
  }
  for (auto& w : *selected) {
    auto slot = (*engine)->watch(traced(w.dev.disk));
    if (!slot) {
      fmt::print(stderr, "sanwatch hist: {}\n", slot.error().message());
      return 1;
    }
    w.slot = *slot;
    if (!w.dev.partition.empty() && !o.json)
      fmt::print(stderr, "sanwatch hist: {} is a partition; tracing its disk {}\n", w.dev.partition,
                 w.dev.disk.name);
  }
  const std::size_t n_devices = selected->size();
  HistSession session(o, **engine, std::move(selected).value());
  session.seed();
  Status st = session.prime();
  // Signals are blocked before the line below: a script that sends SIGINT
  // as soon as it reads it must not kill hist by the default action.
  auto sig = signal_fd();
  if (st && !sig) st = sig.error();
  // On stderr even with --json: scripts wait for it to know tracing is live.
  fmt::print(stderr, "Tracing block I/O latency on {} device(s) ({})... Hit Ctrl-C to end.\n",
             n_devices, (*engine)->attach_mode());
  if (st) st = loop(o, session, *sig);
  if (!st) {
    fmt::print(stderr, "sanwatch hist: {}\n", st.error().message());
    return 1;
  }
  return 0;
}

}  // namespace sanwatch
