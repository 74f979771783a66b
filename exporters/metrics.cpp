// SPDX-License-Identifier: Apache-2.0
#include "exporters/metrics.h"

#include <prometheus/metric_family.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <string>

namespace sanwatch {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

const std::vector<double>& latency_bucket_bounds() {
  // 100 us .. 60 s: array cache hits, spinning media, SLO lines (10/100 ms),
  // multipathd's checker (5-20 s) and the SCSI timeout (30 s).
  static const std::vector<double> b = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                        1,      2.5,     5,      10,    30,     60};
  return b;
}

namespace {

using Labels = std::vector<ClientMetric::Label>;

// Families by name, kept in first-use order for a stable exposition.
class Families {
 public:
  MetricFamily& get(const std::string& name, const std::string& help, MetricType type) {
    auto it = index_.find(name);
    if (it != index_.end()) return out_[it->second];
    index_[name] = out_.size();
    out_.push_back(MetricFamily{name, help, type, {}});
    return out_.back();
  }
  void gauge(const std::string& name, const std::string& help, Labels l, double v) {
    ClientMetric m;
    m.label = std::move(l);
    m.gauge.value = v;
    get(name, help, MetricType::Gauge).metric.push_back(std::move(m));
  }
  void counter(const std::string& name, const std::string& help, Labels l, double v) {
    ClientMetric m;
    m.label = std::move(l);
    m.counter.value = v;
    get(name, help, MetricType::Counter).metric.push_back(std::move(m));
  }
  void histogram(const std::string& name, const std::string& help, Labels l,
                 const LatencyHistogram& h, double sum_s);
  std::vector<MetricFamily> take() { return std::move(out_); }

 private:
  std::map<std::string, std::size_t> index_;
  std::vector<MetricFamily> out_;
};

// Fine log-linear buckets folded into the classic bounds: each fine bucket
// goes where its midpoint falls (error at most half a fine bucket, ~6 %).
void Families::histogram(const std::string& name, const std::string& help, Labels l,
                         const LatencyHistogram& h, double sum_s) {
  const auto& bounds = latency_bucket_bounds();
  std::vector<std::uint64_t> per(bounds.size() + 1, 0);
  for (std::uint32_t i = 0; i < kNrBuckets; ++i) {
    if (!h[i]) continue;
    const double mid =
        (LatencyHistogram::lower_ns(i) + static_cast<double>(LatencyHistogram::upper_ns(i))) / 2e9;
    std::size_t j = 0;
    while (j < bounds.size() && mid > bounds[j]) ++j;
    per[j] += h[i];
  }
  ClientMetric m;
  m.label = std::move(l);
  std::uint64_t cum = 0;
  for (std::size_t j = 0; j <= bounds.size(); ++j) {
    cum += per[j];
    const double ub = j < bounds.size() ? bounds[j] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cum, ub});
  }
  m.histogram.sample_count = cum;
  m.histogram.sample_sum = sum_s;
  get(name, help, MetricType::Histogram).metric.push_back(std::move(m));
}

// Nanoseconds as exact decimal seconds ("0.01", "1.5"): a label value must
// not change with float formatting, or a series would split.
std::string seconds_label(std::uint64_t ns) {
  std::string out = std::to_string(ns / 1'000'000'000);
  std::string frac = std::to_string(1'000'000'000 + ns % 1'000'000'000).substr(1);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) out += "." + frac;
  return out;
}

// One series per configured threshold (none when none are configured).
void slo_metrics(Families& f, const Labels& l, const SloThresholds& slo_ns, const OpStats& s) {
  for (int k = 0; k < kNrSlo && slo_ns[k]; ++k) {
    Labels o = l;
    o.push_back({"threshold_seconds", seconds_label(slo_ns[k])});
    f.counter("sanwatch_io_latency_over_threshold_total",
              "Completed block I/O whose total latency (allocation to completion) exceeded the "
              "threshold, counted exactly in the kernel; failed I/O included.",
              o, s.slo_over[k]);
  }
}

void io_metrics(Families& f, const TargetSnapshot& t, bool device_hist, std::uint64_t now) {
  const Labels dev = {{"device", t.name}};
  for (int i = 0; i < kNrOps; ++i) {
    const OpStats& s = t.io->ops[i];
    if (!s.count && !s.requeues) continue;  // no series for operations never seen
    const Labels l = {{"device", t.name}, {"op", std::string(op_name(static_cast<Op>(i)))}};
    f.counter("sanwatch_io_completed_total", "Completed block I/O requests.", l, s.count);
    f.counter("sanwatch_io_bytes_total", "Bytes of completed block I/O.", l, s.bytes);
    for (int st = 0; st < kNrStatus; ++st)
      if (s.errors[st]) {
        Labels e = l;
        e.push_back({"status", status_name(st)});
        f.counter("sanwatch_io_errors_total",
                  "Block I/O completions with an error, by blk_status_t.", e, s.errors[st]);
      }
    slo_metrics(f, l, t.io->slo_ns, s);
    if (!t.histograms) continue;
    f.histogram("sanwatch_io_latency_seconds",
                "Block I/O latency from request allocation to completion (includes requeues).", l,
                s.total, s.total_ns_sum / 1e9);
    if (device_hist)
      f.histogram("sanwatch_io_device_latency_seconds",
                  "Block I/O latency from issue to the device to completion.", l, s.device,
                  s.device_ns_sum / 1e9);
  }
  std::uint64_t requeues = 0;
  for (const auto& s : t.io->ops) requeues += s.requeues;
  f.counter("sanwatch_io_requeues_total", "Block requests requeued (e.g. by dm-multipath).", dev,
            requeues);
  const double age =
      t.oldest_start_ns && now > *t.oldest_start_ns ? (now - *t.oldest_start_ns) / 1e9 : 0;
  f.gauge("sanwatch_inflight_oldest_seconds",
          "Age of the oldest block I/O still outstanding (0 when none).", dev, age);
}

void canary_metrics(Families& f, const TargetSnapshot& t, std::uint64_t now) {
  const Labels l = {{"target", t.label}};  // the same name as sanwatch_state
  const CanaryStats& c = *t.canary;
  if (t.histograms)
    f.histogram("sanwatch_canary_latency_seconds", "Latency of successful canary reads.", l,
                c.latency, c.latency_ns_sum / 1e9);
  f.counter("sanwatch_canary_reads_total", "Canary reads completed.", l, c.reads);
  f.counter("sanwatch_canary_errors_total", "Canary reads that failed.", l, c.errors);
  f.counter("sanwatch_canary_timeouts_total", "Canary reads that missed their deadline.", l,
            c.timeouts);
  double overdue = 0;
  if (t.canary_since_ns && now > *t.canary_since_ns + t.canary_deadline_ns)
    overdue = (now - *t.canary_since_ns) / 1e9;
  f.gauge("sanwatch_canary_overdue_seconds",
          "Age of a canary read outstanding past its deadline (0 when none).", l, overdue);
}

// Native NVMe multipath: the path's identity and its ANA state, one series
// per state as sanwatch_state does (plus the reported one when it is none of
// the five the NVMe spec defines).
void nvme_path_metrics(Families& f, const TargetSnapshot& t, const Labels& mp) {
  Labels info = mp;
  for (const auto& [k, v] :
       {std::pair<const char*, const std::string&>{"subsystem_nqn", t.array_id},
        {"controller", t.controller},
        {"transport", t.nvme_transport},
        {"address", t.target_port},
        {"ana_group", t.ana_group}})
    info.push_back({k, v});
  f.gauge("sanwatch_nvme_path_info",
          "Identity of a native NVMe multipath path: subsystem NQN, controller, transport, "
          "address, ANA group (1).",
          info, 1);
  static constexpr std::array<std::string_view, 5> kAna = {
      "optimized", "non-optimized", "inaccessible", "persistent-loss", "change"};
  const auto ana = [&](std::string_view s, bool v) {
    Labels l = mp;
    l.push_back({"state", std::string(s)});
    f.gauge("sanwatch_nvme_path_ana_state",
            "ANA state of a native NVMe path: 1 for the current state, 0 otherwise.", l, v);
  };
  for (auto s : kAna) ana(s, s == t.alua_state);
  if (!t.alua_state.empty() && std::find(kAna.begin(), kAna.end(), t.alua_state) == kAna.end())
    ana(t.alua_state, true);
}

void multipath_metrics(Families& f, const TargetSnapshot& t) {
  if (t.target_type == "path") {
    const Labels mp = {{"map", t.map}, {"path", t.name}};
    Labels up = mp;
    up.push_back({"wwid", t.wwid});
    f.gauge("sanwatch_path_up", "1 while device-mapper counts the path active, 0 when failed.", up,
            t.path_up);
    f.counter("sanwatch_path_transitions_total", "Active <-> failed changes of a multipath path.",
              mp, t.transitions);
    Labels info = up;
    for (const auto& [k, v] : {std::pair<const char*, const std::string&>{"array", t.array},
                               {"target_port", t.target_port},
                               {"hctl", t.hctl},
                               {"transport", t.transport},
                               {"array_vendor", t.array_vendor},
                               {"array_product", t.array_product},
                               {"array_id", t.array_id}})
      info.push_back({k, v});
    f.gauge("sanwatch_path_info", "Identity of a multipath path: array, target port, H:C:T:L (1).",
            info, 1);
    if (!t.controller.empty()) nvme_path_metrics(f, t, mp);
    if (t.scsi_counters) {
      f.counter("sanwatch_scsi_iodone_total",
                "SCSI commands the path's device completed (sysfs iodone_cnt).", mp, t.scsi_iodone);
      f.counter("sanwatch_scsi_ioerr_total",
                "SCSI commands completed with an error on the path (sysfs ioerr_cnt).", mp,
                t.scsi_ioerr);
      f.counter("sanwatch_scsi_iotmo_total",
                "SCSI commands that timed out on the path (sysfs iotmo_cnt).", mp, t.scsi_iotmo);
    }
  }
  if (t.target_type == "map" && t.total_paths >= 0) {
    const Labels l = {{"map", t.label}, {"wwid", t.wwid}};
    f.gauge("sanwatch_map_valid_paths", "Paths device-mapper counts as valid for the map.", l,
            t.valid_paths);
    f.gauge("sanwatch_map_paths", "All paths of the map.", l, t.total_paths);
    if (t.active_group)
      f.gauge("sanwatch_map_active_group",
              "The map's priority group carrying I/O (1-based, dm-multipath's status).", l,
              t.active_group);
  }
}

// Counters that make availability a PromQL query: increase() of the sum
// over states is measured time, of down seconds is down time.
void availability_metrics(Families& f, const TargetSnapshot& t) {
  const Labels l = {{"target", t.label}, {"target_type", t.target_type}};
  for (std::size_t i = 0; i < t.states.size() && i < t.state_seconds.size(); ++i) {
    Labels ls = l;
    ls.push_back({"state", t.states[i]});
    f.counter("sanwatch_target_state_seconds_total",
              "Seconds the agent watched the target in each state since it started.", ls,
              t.state_seconds[i]);
  }
  f.counter("sanwatch_target_down_seconds_total",
            "Down time by the ledger's rule: the true span of episodes that reached stalled, "
            "failed, down, gone or flapping, without hysteresis.",
            l, t.down_seconds);
}

void target_metrics(Families& f, const TargetSnapshot& t, bool device_hist, std::uint64_t now) {
  Labels info = {{"device", t.name}, {"target", t.label}, {"target_type", t.target_type}};
  if (!t.dm_name.empty()) info.push_back({"dm_name", t.dm_name});
  if (!t.wwid.empty()) info.push_back({"wwid", t.wwid});
  // The array key of the fleet rules is (array, array_id); an empty label
  // is no label to PromQL, so unknown ones are left out.
  for (const auto& [k, v] : {std::pair<const char*, const std::string&>{"array", t.array},
                             {"array_vendor", t.array_vendor},
                             {"array_product", t.array_product},
                             {"array_id", t.array_id}})
    if (!v.empty()) info.push_back({k, v});
  f.gauge("sanwatch_device_info", "Identity of a watched device (1); join on device.", info, 1);
  for (const auto& s : t.states)
    f.gauge("sanwatch_state", "Health state of a target: 1 for the current state, 0 otherwise.",
            {{"target", t.label}, {"target_type", t.target_type}, {"state", s}}, s == t.state);
  availability_metrics(f, t);
  if (t.state_since > 0)
    f.gauge("sanwatch_state_changed_timestamp_seconds",
            "Unix time of the target's last state change.",
            {{"target", t.label}, {"target_type", t.target_type}}, t.state_since);
  multipath_metrics(f, t);
  if (t.io) io_metrics(f, t, device_hist, now);
  if (t.canary) canary_metrics(f, t, now);
}

void ledger_metrics(Families& f, const LedgerStatus& l) {
  if (!l.enabled) return;
  f.gauge("sanwatch_ledger_up", "1 while the evidence ledger is open for writing.", {}, l.open);
  f.counter("sanwatch_ledger_rows_total", "Rows committed to the evidence ledger by this run.", {},
            l.rows);
  f.counter("sanwatch_ledger_dropped_rows_total",
            "Ledger rows dropped because the writer's queue was full (its disk did not keep up).",
            {}, l.dropped);
  f.counter("sanwatch_ledger_write_errors_total", "Failed ledger commits (their rows are retried).",
            {}, l.write_errors);
  f.gauge("sanwatch_ledger_queue_rows", "Ledger rows waiting for the writer.", {}, l.queued);
  f.gauge("sanwatch_ledger_head_timestamp_seconds",
          "Time of the newest row committed to the ledger (Unix seconds).", {}, l.head_timestamp_s);
  f.gauge("sanwatch_ledger_on_watched_device",
          "1 when the ledger's filesystem lives on a watched multipath map or path.", {},
          l.on_watched_device);
  f.counter("sanwatch_ledger_writer_cpu_seconds_total", "CPU time of the ledger writer thread.", {},
            l.writer_cpu_s);
}

// Latency drift (detect/baseline.h): ratios and values only while the last
// window had enough I/O and a baseline exists; `degraded` for every LUN.
void baseline_metrics(Families& f, const std::vector<BaselineStatus>& luns) {
  for (const auto& b : luns) {
    const Labels l = {{"target", b.target}, {"target_type", b.target_type}};
    f.gauge("sanwatch_baseline_degraded",
            "1 while the LUN's latency has stayed at baseline.factor times its baseline (the "
            "same hour in earlier weeks) or more for baseline.hold; not a health state.",
            l, b.degraded);
    if (!b.has_ratio) continue;
    const std::pair<const char*, std::array<double, 3>> qs[] = {
        {"0.5", {b.ratio_p50, b.p50_s, b.baseline_p50_s}},
        {"0.99", {b.ratio_p99, b.p99_s, b.baseline_p99_s}}};
    for (const auto& [q, v] : qs) {
      Labels lq = l;
      lq.push_back({"quantile", q});
      f.gauge("sanwatch_baseline_ratio",
              "The last window's latency quantile over the baseline's (same hour in earlier "
              "weeks, median).",
              lq, v[0]);
      for (const auto& [w, x] : {std::pair{"current", v[1]}, {"baseline", v[2]}}) {
        Labels lw = lq;
        lw.push_back({"window", w});
        f.gauge("sanwatch_baseline_latency_seconds",
                "Latency quantile of the last window (current) and of the baseline.", lw, x);
      }
    }
  }
}

void self_metrics(Families& f, const MetricsSnapshot& s) {
  ledger_metrics(f, s.ledger);
  f.counter("sanwatch_bpf_ringbuf_dropped_events_total",
            "Slow/error events lost because the BPF ring buffer was full.", {},
            s.engine.ringbuf_drops);
  f.counter("sanwatch_bpf_untracked_requests_total",
            "Requests whose tag fell outside the in-flight slot range (no age tracking).", {},
            s.engine.untracked);
  f.counter("sanwatch_bpf_duplicate_completions_total",
            "Second completions of one request (dm-multipath), counted once.", {},
            s.engine.duplicate_completions);
  f.counter("sanwatch_bpf_unseen_completions_total",
            "Completions of requests the programs did not see start (issued before they "
            "attached), counted by the kernel's own start time.",
            {}, s.engine.unseen_completions);
  // Slots of the BPF maps: used back where it was after devices go (a leak
  // would show here), capacity growing only by reloads.
  const std::pair<const char*, std::array<unsigned, 2>> slots[] = {
      {"device", {s.slots.device_used, s.slots.device_capacity}},
      {"inflight", {s.slots.inflight_used, s.slots.inflight_capacity}}};
  for (const auto& [kind, v] : slots)
    for (const auto& [state, n] : {std::pair{"used", v[0]}, {"capacity", v[1]}})
      f.gauge("sanwatch_bpf_slots",
              "BPF map slots: device slots (one per watched device) and in-flight slots (hardware "
              "queues x tags per watched device), in use and allocated.",
              {{"kind", kind}, {"state", state}}, n);
  f.counter("sanwatch_uevents_dropped_total", "Kernel uevents dropped as malformed or hostile.", {},
            s.uevents_dropped);
  for (const auto& [reason, n] : s.uevents_dropped_by_reason)
    f.counter("sanwatch_uevents_dropped_by_reason_total",
              "Uevents dropped, by reason (not_kernel, relayed: forged by a process; the rest "
              "malformed); they add up to sanwatch_uevents_dropped_total.",
              {{"reason", reason}}, n);
  f.counter("sanwatch_uevents_received_total",
            "Datagrams read from the kernel uevent socket, accepted or dropped.", {},
            s.uevents_received);
  f.counter("sanwatch_uevent_overflows_total",
            "Times the uevent socket's receive buffer overflowed (ENOBUFS): uevents were lost "
            "and every device was rescanned.",
            {}, s.uevent_overflows);
  if (s.bpf_stats_enabled)
    for (const auto& p : s.programs) {
      f.counter("sanwatch_bpf_program_run_seconds_total",
                "Time spent in sanwatch's BPF programs (kernel.bpf_stats_enabled=1).",
                {{"program", p.name}}, p.run_time_ns / 1e9);
      f.counter("sanwatch_bpf_program_runs_total",
                "Runs of sanwatch's BPF programs (kernel.bpf_stats_enabled=1).",
                {{"program", p.name}}, p.run_cnt);
    }
  for (const auto& k : s.sinks) {
    const Labels l = {{"sink", k.sink}};
    f.counter("sanwatch_alert_deliveries_total",
              "Alerts delivered (exec: hook runs that exited 0), per sink.", l, k.delivered);
    f.counter("sanwatch_alert_failures_total", "Failed alert delivery attempts, per sink.", l,
              k.failed);
    f.counter("sanwatch_alert_dropped_total",
              "Alerts dropped: a sink's queue was full, or an Alertmanager rejected them (4xx).", l,
              k.dropped);
    f.gauge("sanwatch_alert_queue_length", "Alerts waiting for delivery, per sink.", l, k.queued);
    if (k.up >= 0)
      f.gauge("sanwatch_alert_sink_up",
              "1 when the Alertmanager answered its last health check or POST, 0 when not.", l,
              k.up);
  }
}

// The metrics server itself: connections, refusals by limit, answers.
void server_metrics(Families& f, const ServerStats& s) {
  f.gauge("sanwatch_scrape_duration_seconds",
          "How long the previous scrape took to render, serialize and compress.", {},
          s.last_scrape_s);
  f.counter("sanwatch_scrape_renders_total",
            "Bodies rendered for /metrics (scrapes within 100 ms of each other with no change in "
            "between share one).",
            {}, static_cast<double>(s.renders));
  f.gauge("sanwatch_http_connections", "Open connections to the metrics server.", {},
          static_cast<double>(s.http.open));
  for (const auto& [reason, n] : {std::pair{"max_connections", s.http.refused_max_connections},
                                  std::pair{"per_ip", s.http.refused_per_ip}})
    f.counter("sanwatch_http_connections_refused_total",
              "Connections refused at accept by metrics.max_connections (max_connections) or "
              "metrics.max_connections_per_ip (per_ip).",
              {{"reason", reason}}, static_cast<double>(n));
  for (const auto& [code, n] : s.http.requests)
    f.counter("sanwatch_http_requests_total", "Requests answered by the metrics server, by status.",
              {{"code", std::to_string(code)}}, static_cast<double>(n));
}

}  // namespace

std::vector<MetricFamily> render_families(const MetricsSnapshot& snap, std::uint64_t now,
                                          const ServerStats& server) {
  Families f;
  f.gauge("sanwatch_build_info", "sanwatch build and running kernel (1).",
          {{"version", snap.version}, {"kernel", snap.kernel}}, 1);
  for (const auto& t : snap.targets) target_metrics(f, t, snap.device_histograms, now);
  baseline_metrics(f, snap.baseline);
  self_metrics(f, snap);
  server_metrics(f, server);
  return f.take();
}

}  // namespace sanwatch
