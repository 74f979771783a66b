// SPDX-License-Identifier: Apache-2.0
#include "cli/agent_ledger.h"

#include <fmt/format.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "base/clock.h"
#include "base/version.h"
#include "host/device_stack.h"

namespace sanwatch {
namespace {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  // getrandom() without GRND_NONBLOCK waits only before the pool is seeded
  // at boot; a failure leaves zeros, still a valid (if unlucky) id.
  (void)!getrandom(b.data(), b.size(), 0);
  std::string s;
  for (unsigned char c : b) s += fmt::format("{:02x}", c);
  return s;
}

std::string first_line(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

RunInfo run_info(const Config& cfg) {
  RunInfo r;
  r.run_id = random_hex(16);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  r.host = host;
  utsname u{};
  r.kernel = uname(&u) == 0 ? u.release : "unknown";
  r.version = kVersion;
  r.boot_id = first_line("/proc/sys/kernel/random/boot_id");
  r.config_source = cfg.source;
  r.config_sha256 = chain_hash("", render_config(cfg));
  for (Duration d : cfg.ledger.latency_slos)
    r.latency_slos_ns.push_back(static_cast<std::uint64_t>(d.count()));
  return r;
}

// Minute rows wait until a stall that began in the minute has been seen.
std::int64_t minute_lag_ms(const Config& cfg) {
  Duration longest = cfg.thresholds.stall;
  for (const auto& o : cfg.overrides)
    if (o.stall) longest = std::max(longest, *o.stall);
  return std::chrono::duration_cast<std::chrono::milliseconds>(longest).count() + 5000;
}

constexpr int kHoursPerSample = 4096;

std::int64_t ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

AgentLedger::AgentLedger(const Config& cfg, EventLog& log) : log_(log), path_(cfg.ledger.path) {}

std::unique_ptr<AgentLedger> AgentLedger::start(const Config& cfg, EventLog& log) {
  std::unique_ptr<AgentLedger> a(new AgentLedger(cfg, log));
  RunInfo info = run_info(cfg);
  LedgerWriterOptions o;
  o.path = cfg.ledger.path;
  o.queue_rows = cfg.ledger.queue;
  o.retention_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.ledger.retention).count();
  o.minute_keep_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.ledger.minute_rollups).count();
  o.run_id = info.run_id;
  if (cfg.baseline.enabled) {
    // History for every hour the baseline can ask for, and a margin.
    o.latency_keep_ms = ms(cfg.baseline.learn) + ms(cfg.baseline.period);
    o.restore_within_ms = ms(cfg.baseline.period);
    a->tracker_ = std::make_unique<BaselineTracker>(cfg.baseline);
  }
  a->writer_ = std::make_unique<LedgerWriter>(std::move(o), log);
  a->recorder_ = std::make_unique<LedgerRecorder>(
      std::move(info), [w = a->writer_.get()](LedgerRow r) { w->push(std::move(r)); },
      minute_lag_ms(cfg));
  a->recorder_->start(wall_ms(), monotonic_ns());
  log.subscribe([r = a->recorder_.get()](const StateChange& c) { r->on_state(c); });
  if (a->tracker_) {
    a->recorder_->observe_latency(
        [t = a->tracker_.get()](const TargetSnapshot& s, const LatencyHistogram& h,
                                std::int64_t wall) { t->observe(identity_of(s), h, wall); });
    log.subscribe_baseline([r = a->recorder_.get()](const BaselineEvent& e) { r->on_baseline(e); });
    const auto& b = cfg.baseline;
    log.info("latency baseline enabled", {{"factor", b.factor},
                                          {"min_ios", b.min_ios},
                                          {"window", format_duration(b.window)},
                                          {"learn", format_duration(b.learn)},
                                          {"hold", format_duration(b.hold)},
                                          {"period", format_duration(b.period)}});
  }
  log.info("ledger enabled", {{"ledger", cfg.ledger.path}, {"run_id", a->recorder_->run().run_id}});
  return a;
}

std::optional<std::string> watched_below(const std::vector<std::string>& below,
                                         const std::vector<TargetSnapshot>& targets) {
  for (const TargetSnapshot& t : targets) {
    if (t.target_type != "map" && t.target_type != "path") continue;
    if (std::find(below.begin(), below.end(), t.name) != below.end())
      return t.target_type + " " + t.label;
  }
  return std::nullopt;
}

void AgentLedger::check_placement(const std::vector<TargetSnapshot>& targets,
                                  const std::string& root) {
  const auto dev = filesystem_device(path_);
  if (!dev) return;
  const auto below = devices_below(root, *dev);
  const auto hit = watched_below(below, targets);
  if (!hit) return;
  on_watched_ = true;
  log_.error(fmt::format("the ledger {} lives on {}, which sanwatch watches: the evidence would "
                         "be lost exactly when that storage fails; put it on a local disk "
                         "([ledger] path)",
                         path_, *hit),
             {{"ledger", path_}, {"watched", *hit}, {"devices", below}});
}

void AgentLedger::sample(const std::vector<TargetSnapshot>& targets) {
  const std::int64_t now = wall_ms();
  recorder_->sample(targets, now, monotonic_ns());
  if (!tracker_) return;
  BaselineInbox in = writer_->take_baseline();
  std::move(in.hours.begin(), in.hours.end(), std::back_inserter(hours_in_));
  // Weeks of history arrive at once after a start: a few thousand hours a
  // sample (~60 ns each) keep each loop iteration short.
  for (int n = 0; n < kHoursPerSample && !hours_in_.empty(); ++n) {
    tracker_->add_hour(hours_in_.front());
    hours_in_.pop_front();
  }
  for (const auto& r : in.restores) tracker_->restore(r);
  for (auto& e : tracker_->evaluate(now)) log_.baseline(std::move(e));
}

std::vector<BaselineStatus> AgentLedger::baseline_status() const {
  return tracker_ ? tracker_->status() : std::vector<BaselineStatus>{};
}

void AgentLedger::stop(const std::vector<TargetSnapshot>& targets,
                       std::chrono::milliseconds grace) {
  recorder_->stop(targets, wall_ms(), monotonic_ns());
  writer_->stop(grace);
}

LedgerStatus AgentLedger::status() const {
  const LedgerCounters& c = writer_->counters();
  LedgerStatus s;
  s.enabled = true;
  s.open = c.open;
  s.on_watched_device = on_watched_;
  s.rows = c.rows;
  s.dropped = c.dropped;
  s.write_errors = c.write_errors;
  s.queued = c.queued;
  s.head_timestamp_s = static_cast<double>(c.head_ts_ms.load()) / 1e3;
  s.writer_cpu_s = static_cast<double>(c.writer_cpu_ns.load()) / 1e9;
  return s;
}

}  // namespace sanwatch
