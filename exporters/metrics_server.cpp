// SPDX-License-Identifier: Apache-2.0
// Serving /metrics over libmicrohttpd (http_server.h). prometheus-cpp's
// Exposer serializes with its TextSerializer and gzips at zlib's default
// level; at 1024 devices that made a compressed scrape ~75 ms. Here the text
// is written with fmt and gzipped at level 1 (the body is repetitive text:
// level 1 is within ~20 % of level 6's size at a fifth of the time), and a
// body is shared by the scrapes of the same 100 ms (scrape_cache.h).
#include <string_view>

#include "exporters/exposition.h"
#include "exporters/http_server.h"
#include "exporters/metrics.h"
#include "exporters/metrics_auth.h"
#include "exporters/metrics_routes.h"

namespace sanwatch {

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

HttpResponse text(unsigned status, std::string body) {
  return {status,
          "text/plain; charset=utf-8",
          std::make_shared<const std::string>(std::move(body)),
          {}};
}

HttpResponse root_page() {
  static const auto kPage = std::make_shared<const std::string>(
      "<html><head><title>sanwatch</title></head><body><h1>sanwatch</h1>"
      "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n");
  return {200, "text/html; charset=utf-8", kPage, {}};
}

HttpResponse metrics_page(ScrapeCache& cache, const HttpRequest& req) {
  const auto accept = req.header("Accept-Encoding");
  auto body =
      cache.body(!accept.empty() && accepts_gzip(accept), [&req] { return req.server.stats(); });
  HttpResponse r{200, kContentType, std::move(body.data), {}};
  if (body.gzipped) r.headers.emplace_back("Content-Encoding", "gzip");
  return r;
}

}  // namespace

HttpResponse route_metrics_request(ScrapeCache& cache, const HttpRequest& req) {
  const bool root = req.path == "/", metrics = req.path == "/metrics";
  if (!root && !metrics) return text(404, "not found; metrics are at /metrics\n");
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = text(405, "only GET and HEAD\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  return root ? root_page() : metrics_page(cache, req);
}

Result<std::unique_ptr<MetricsExporter>> MetricsExporter::start(const MetricsServerSettings& s) {
  std::unique_ptr<MetricsExporter> e(new MetricsExporter());
  e->cache_ = std::make_unique<ScrapeCache>();
  const HttpLimits limits{s.max_connections, s.max_connections_per_ip, s.read_timeout,
                          s.max_request_bytes};
  std::optional<HttpTls> tls;
  if (s.web && s.web->tls) {
    const auto& m = *s.web->tls;
    tls = HttpTls{m.cert_pem, m.key_pem, m.trust_pem, m.priorities};
  }
  // Always there, so that a reload can add basic auth to a server started
  // without; with nothing configured it passes every request.
  e->auth_ = std::make_unique<MetricsAuth>(s.web.get());
  auto handler = [c = e->cache_.get(), a = e->auth_.get()](const HttpRequest& r) {
    // Every path is behind the gate, as with exporter-toolkit.
    return a->handle(r, [&] { return route_metrics_request(*c, r); });
  };
  auto server = HttpServer::listen(s.listen, limits, std::move(handler), std::move(tls));
  if (!server) return server.error();
  e->server_ = std::move(server).value();
  return e;
}

MetricsExporter::~MetricsExporter() = default;

void MetricsExporter::publish(MetricsSnapshot s) { cache_->publish(std::move(s)); }

void MetricsExporter::set_state(const std::string& target, const std::string& state) {
  cache_->set_state(target, state);
}

int MetricsExporter::port() const { return server_->port(); }

std::uint64_t MetricsExporter::renders() const { return cache_->renders(); }

HttpStats MetricsExporter::http_stats() const { return server_->stats(); }

std::uint64_t MetricsExporter::bcrypt_checks() const { return auth_->bcrypt_checks(); }

void MetricsExporter::update_auth(const WebSetup* web) { auth_->update(web); }

}  // namespace sanwatch
