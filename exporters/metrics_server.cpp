// SPDX-License-Identifier: Apache-2.0
// Serving /metrics over civetweb. prometheus-cpp's Exposer serializes with
// its TextSerializer and gzips at zlib's default level; at 1024 devices that
// made a compressed scrape ~75 ms. Here the text is written with fmt and
// gzipped at level 1 (the body is repetitive text: level 1 is within ~20 %
// of level 6's size at a fifth of the time).
#include <civetweb.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "base/clock.h"
#include "exporters/exposition.h"
#include "exporters/metrics.h"

namespace sanwatch {

// The latest snapshot, swapped in by the event loop and read by scrapes
// without holding a lock while rendering: the event loop never waits on a
// scrape.
class SnapshotCollector {
 public:
  void publish(MetricsSnapshot s) {
    auto next = std::make_shared<const MetricsSnapshot>(std::move(s));
    std::lock_guard<std::mutex> lock(mu_);
    snap_ = std::move(next);
    states_.clear();  // the snapshot carries every state change before it
  }
  void set_state(const std::string& target, const std::string& state) {
    std::lock_guard<std::mutex> lock(mu_);
    states_[target] = state;
  }
  struct Body {
    std::string data;
    bool gzipped = false;  // false also when compression failed: sent plain
  };
  // The exposition body, gzipped when asked.
  Body scrape(bool gzip) {
    const auto t0 = std::chrono::steady_clock::now();
    std::string text;
    text.reserve(last_size_.load(std::memory_order_relaxed) * 9 / 8);
    write_text_exposition(render_families(*current(), monotonic_ns(), last_scrape_s_.load()), text);
    last_size_.store(text.size(), std::memory_order_relaxed);
    Body body{gzip ? gzip_compress(text, 1) : std::string{}};
    body.gzipped = !body.data.empty();
    if (!body.gzipped) body.data = std::move(text);
    last_scrape_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return body;
  }

 private:
  // The snapshot with the state changes made since it was taken: a copy
  // only in the (rare) window between a state change and the next publish.
  std::shared_ptr<const MetricsSnapshot> current() {
    std::lock_guard<std::mutex> lock(mu_);
    if (states_.empty()) return snap_;
    auto copy = std::make_shared<MetricsSnapshot>(*snap_);
    for (auto& t : copy->targets)
      if (auto it = states_.find(t.label); it != states_.end()) t.state = it->second;
    return copy;
  }

  std::mutex mu_;
  std::shared_ptr<const MetricsSnapshot> snap_ = std::make_shared<MetricsSnapshot>();
  std::map<std::string, std::string> states_;
  std::atomic<double> last_scrape_s_{0};
  std::atomic<std::size_t> last_size_{0};
};

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

int handle_metrics(mg_connection* conn, void* cbdata) {
  const std::string_view method = mg_get_request_info(conn)->request_method;
  if (method != "GET" && method != "HEAD") {
    mg_send_http_error(conn, 405, "%s", "only GET and HEAD\n");
    return 405;
  }
  const char* accept = mg_get_header(conn, "Accept-Encoding");
  const bool gzip = accept && accepts_gzip(accept);
  const auto body = static_cast<SnapshotCollector*>(cbdata)->scrape(gzip);
  mg_response_header_start(conn, 200);
  mg_response_header_add(conn, "Content-Type", kContentType, -1);
  if (body.gzipped) mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.data.size()).c_str(), -1);
  mg_response_header_send(conn);
  if (method == "GET") mg_write(conn, body.data.data(), body.data.size());
  return 200;
}

int handle_root(mg_connection* conn, void*) {
  static constexpr std::string_view kPage =
      "<html><head><title>sanwatch</title></head><body><h1>sanwatch</h1>"
      "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";
  mg_send_http_ok(conn, "text/html; charset=utf-8", static_cast<long long>(kPage.size()));
  mg_write(conn, kPage.data(), kPage.size());
  return 200;
}

// Connects to host:port and closes at once; errors are of no interest.
void knock(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return;
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const bool ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    close(fd);
    if (ok) break;
  }
  freeaddrinfo(res);
}

int first_port(const mg_context* ctx) {
  mg_server_port ports[4] = {};
  const int n = mg_get_server_ports(ctx, 4, ports);
  return n > 0 ? ports[0].port : 0;
}

}  // namespace

Result<std::unique_ptr<MetricsExporter>> MetricsExporter::start(const std::string& listen) {
  std::unique_ptr<MetricsExporter> e(new MetricsExporter());
  e->collector_ = std::make_unique<SnapshotCollector>();
  e->listen_ = listen;
  mg_init_library(0);
  // Two workers: a scrape never waits behind another, and a slow client
  // is cut off after 10 s instead of holding a worker.
  const char* options[] = {"listening_ports",    listen.c_str(), "num_threads", "2",
                           "request_timeout_ms", "10000",        nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{&callbacks, nullptr, options};
  char text[256] = "";
  unsigned code = 0;
  mg_error_data error{&code, text, sizeof text};
  e->server_ = mg_start2(&init, &error);
  if (!e->server_) {
    mg_exit_library();
    return Error{EADDRINUSE, fmt::format("cannot serve metrics on {}: {}", listen,
                                         *text ? text : "civetweb could not start")};
  }
  mg_set_request_handler(e->server_, "/metrics$", handle_metrics, e->collector_.get());
  mg_set_request_handler(e->server_, "/$", handle_root, nullptr);
  e->port_ = first_port(e->server_);
  return e;
}

MetricsExporter::~MetricsExporter() {
  if (!server_) return;
  // civetweb's master thread polls its listening socket with a 2 s timeout
  // and sees the stop flag only when the poll returns, so a stop takes up to
  // 2 s (and SIGTERM with it). Connections made while mg_stop() waits end
  // that poll at once.
  std::string host = listen_.substr(0, listen_.rfind(':'));
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0" || host == "::") host = "localhost";
  std::atomic<bool> stopped{false};
  std::thread nudge([&] {
    while (!stopped.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (!stopped.load()) knock(host, port_);
    }
  });
  mg_stop(server_);
  stopped = true;
  nudge.join();
  mg_exit_library();
}

void MetricsExporter::publish(MetricsSnapshot s) { collector_->publish(std::move(s)); }

void MetricsExporter::set_state(const std::string& target, const std::string& state) {
  collector_->set_state(target, state);
}

}  // namespace sanwatch
