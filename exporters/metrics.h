// SPDX-License-Identifier: Apache-2.0
// Prometheus /metrics: a libmicrohttpd server (http_server.h) whose handler
// serves a body rendered from the latest MetricsSnapshot (scrape_cache.h:
// one render at a time, reused for 100 ms while nothing changed; gzip when
// the scraper accepts it); the event loop publishes snapshots and state
// changes without waiting for a scrape in progress.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/result.h"
#include "exporters/metrics_snapshot.h"

namespace sanwatch {

class HttpServer;
class MetricsAuth;
class ScrapeCache;
struct WebSetup;

// The server's address and limits ([metrics] in the configuration).
struct MetricsServerSettings {
  std::string listen = "0.0.0.0:9847";
  unsigned max_connections = 1024;       // open connections in total
  unsigned max_connections_per_ip = 32;  // open connections from one address
  // A connection idle this long (no bytes) is closed; also the keep-alive
  // idle timeout. Whole seconds (rounded up).
  std::chrono::milliseconds read_timeout{5000};
  std::size_t max_request_bytes = 8192;  // request line + headers
  // metrics.web_config, loaded: TLS, basic auth, extra headers. Null: plain
  // HTTP, no auth.
  std::shared_ptr<const WebSetup> web;
};

class MetricsExporter {
 public:
  // Listens on settings.listen, host:port (port 0: any free port). Fails
  // with a clear error when the address cannot be bound.
  static Result<std::unique_ptr<MetricsExporter>> start(const MetricsServerSettings& settings);
  static Result<std::unique_ptr<MetricsExporter>> start(const std::string& listen) {
    MetricsServerSettings s;
    s.listen = listen;
    return start(s);
  }
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  void publish(MetricsSnapshot s);
  // Immediate state update between snapshots.
  void set_state(const std::string& target, const std::string& state);
  int port() const;
  // Bodies rendered so far (also sanwatch_scrape_renders_total).
  std::uint64_t renders() const;
  HttpStats http_stats() const;
  // bcrypt checks run so far (basic auth cache misses within the budget).
  std::uint64_t bcrypt_checks() const;
  // Live: basic_auth_users and headers from `web` (null: none). TLS stays
  // what the server started with (libmicrohttpd cannot swap credentials).
  void update_auth(const WebSetup* web);

 private:
  MetricsExporter() = default;
  // Declared before the server, so destroyed after it: no request is in
  // flight when the cache goes.
  std::unique_ptr<ScrapeCache> cache_;
  std::unique_ptr<MetricsAuth> auth_;
  std::unique_ptr<HttpServer> server_;
};

// The metric families for a snapshot at monotonic time `now` (pure).
// `server` adds the metrics server's own series.
std::vector<prometheus::MetricFamily> render_families(const MetricsSnapshot& s, std::uint64_t now,
                                                      const ServerStats& server = {});

// Classic bucket bounds (seconds) for every latency histogram.
const std::vector<double>& latency_bucket_bounds();

}  // namespace sanwatch
