// SPDX-License-Identifier: Apache-2.0
// The agent's configuration (TOML, via toml++): schema, defaults, validation
// with file:line:column errors, per-device overrides. Pure: no I/O but
// load_config's file read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "base/result.h"
#include "host/block_devices.h"

namespace sanwatch {

using namespace std::chrono_literals;

struct Thresholds {
  Duration slow_io = 200ms;        // one I/O slower than this (total latency) is a slow I/O
  double slow_share = 0.10;        // slow when this share of the window's I/O was slow...
  std::uint32_t slow_min_ios = 1;  // ...and at least this many
  Duration slow_window = 10s;
  Duration stall = 2s;                // oldest outstanding I/O older than this: stalled
  std::uint32_t fail_errors = 1;      // I/O errors within the window: failed
  std::uint32_t canary_failures = 3;  // consecutive canary errors: failed
  Duration recovery = 10s;            // quiet time before a state improves
  std::uint32_t flap_count = 3;       // path fail/reinstate cycles within flap_window: flapping
  Duration flap_window = 10min;
};

struct CanarySettings {
  bool enabled = true;
  Duration period = 1s;
  Duration deadline = 500ms;        // over it: slow; outstanding past thresholds.stall: stalled
  std::uint32_t size = 4096;        // bytes per read (rounded up to the logical block size)
  std::uint64_t region_offset = 0;  // bytes
  std::uint64_t region_length = 0;  // bytes; 0 = to the end of the device
};

// Effective settings of one device after overrides.
struct DeviceSettings {
  Thresholds thresholds;
  CanarySettings canary;
  // The array behind the device, for devices whose sysfs does not tell
  // (virtio, loop, iSCSI through a hypervisor): replaces what sysfs says.
  std::optional<std::string> array_vendor, array_product, array_id;
};

// A [[override]] block: settings for devices matching any pattern. Unset
// fields keep the global value.
struct Override {
  std::vector<std::string> match;
  std::string where;  // file:line of the block, for messages
  std::optional<Duration> slow_io, slow_window, stall, recovery;
  std::optional<double> slow_share;
  std::optional<std::uint32_t> slow_min_ios, fail_errors, canary_failures;
  std::optional<bool> canary;
  std::optional<Duration> canary_period, canary_deadline;
  std::optional<std::string> array_vendor, array_product, array_id;
};

enum class CanaryTargets { kMultipath, kAll, kNone };

// [alerts]: where state changes are pushed.
struct AlertSettings {
  std::vector<std::string> alertmanager_urls;  // base URLs; every one gets every alert
  Duration resend = 1min;       // re-send firing alerts (well inside resolve_timeout, 5m)
  Duration timeout = 2s;        // per HTTP request
  Duration health_check = 30s;  // GET /-/ready after this long without a POST; 0 = never
  std::uint32_t queue = 1000;   // alerts kept while Alertmanager is unreachable
  std::string instance;         // label; empty = the host name
  std::vector<std::pair<std::string, std::string>> labels;  // extra static labels
  std::vector<std::string> exec_command;                    // run per event, event JSON on stdin
  Duration exec_timeout = 10s;
  std::uint32_t exec_max_concurrent = 4;
};

// [metrics]: the Prometheus endpoint.
struct MetricsSettings {
  std::string listen = "0.0.0.0:9847";
  bool path_histograms = false;               // latency histograms for multipath paths too
  bool device_histograms = true;              // issue->completion histograms besides total latency
  Duration refresh = 1s;                      // how often counters are copied for scrapes
  std::uint32_t max_connections = 1024;       // open connections in total
  std::uint32_t max_connections_per_ip = 32;  // open connections from one address
  Duration read_timeout = 5s;                 // no bytes this long closes a connection
  std::uint32_t max_request_bytes = 8192;     // request line + headers
  // An exporter-toolkit web.yml (TLS, basic auth); empty: plain HTTP, no
  // auth. Read and checked by the cli (exporters/web_setup.h), not here.
  std::string web_config;
};

// [ledger]: the evidence ledger (agent/ledger).
struct LedgerSettings {
  bool enabled = true;
  std::string path = "/var/lib/sanwatch/ledger.db";
  Duration retention = std::chrono::hours(24 * 400);      // events and hourly rows
  Duration minute_rollups = std::chrono::hours(24 * 35);  // minute rows kept this long
  std::vector<Duration> latency_slos = {10ms, 100ms};     // I/Os over each are counted
  std::uint32_t queue = 10000;                            // rows waiting for the disk
};

// [baseline]: latency drift against the same hour of earlier periods
// (detect/baseline.h). Needs the ledger, which keeps the history.
struct BaselineSettings {
  bool enabled = true;
  double factor = 2.0;          // degraded when p50 or p99 reaches this multiple of the baseline
  std::uint32_t min_ios = 500;  // I/Os a window, and a baseline hour, needs to count
  Duration window = std::chrono::hours(1);       // the current value: the last window's quantiles
  Duration learn = std::chrono::hours(24 * 28);  // the baseline: earlier periods within this
  Duration hold = std::chrono::hours(6);         // above the factor this long: degraded
  Duration period = std::chrono::hours(24 * 7);  // "same hour of the period" (of the week)
};

// [tracing]: the BPF engine. Sized when the programs load: a change takes
// effect at the next start.
struct TracingSettings {
  // Ring buffer of slow/error I/O events, bytes (a power of two; libbpf
  // rounds it up to a whole page). A burst of slow I/O larger than the ring
  // loses events (counted); states do not depend on them.
  std::uint32_t ring_buffer_bytes = 256 * 1024;
};

struct Config {
  std::string source = "<embedded default>";
  std::string log_level = "info";    // debug, info, warn, error
  std::vector<std::string> include;  // empty: every disk and dm map (no loop, ram, zram)
  std::vector<std::string> exclude;
  Thresholds thresholds;
  CanarySettings canary;
  CanaryTargets canary_targets = CanaryTargets::kMultipath;
  std::vector<Override> overrides;
  MetricsSettings metrics;
  AlertSettings alerts;
  LedgerSettings ledger;
  BaselineSettings baseline;
  TracingSettings tracing;
  Duration rescan = 5s;  // sysfs rescan for new and removed devices

  // Do the patterns name this device (whatever its current size)?
  bool matches(const BlockDevice& d) const;
  // Should a newly seen device be watched: matched and usable (size > 0).
  bool selects(const BlockDevice& d) const;
  DeviceSettings settings_for(const BlockDevice& d) const;
  // in_multipath: a path or map of any kind (dm-multipath, or a native NVMe
  // head and its paths), for canary.targets = "multipath".
  bool wants_canary(const BlockDevice& d, bool in_multipath) const;
};

// Pattern: a glob over the kernel name or dm name ("sd*", "mpath?"), a
// /dev path, or "wwid:<wwid>" (dm uuid mpath-<wwid> or the SCSI wwid).
bool device_matches(const std::string& pattern, const BlockDevice& d);

// Parses TOML text; errors are "source:line:column: what is wrong", one per
// line, all of them.
Result<Config> parse_config(std::string_view text, const std::string& source);
Result<Config> load_config(const std::string& path);
// The built-in default (packaging/sanwatch.toml, embedded at build time).
std::string_view embedded_default_config();
// Effective configuration as TOML, for `check-config`.
std::string render_config(const Config& c);

}  // namespace sanwatch
