// SPDX-License-Identifier: Apache-2.0
// The /metrics server (libmicrohttpd) on 127.0.0.1: routes, methods, gzip,
// request limits, connection limits with their refusal counters, the idle
// timeout, and the rendered-body cache.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "exporters/metrics.h"
#include "exporters/scrape_cache.h"
#include "gzip_test_util.h"
#include "http_probe.h"
#include "test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;
using sanwatch::test::closed_within;
using sanwatch::test::connect_from;
using sanwatch::test::get_request;
using sanwatch::test::http_exchange;

using gzip_test::gunzip;

namespace {

MetricsSnapshot one_target(const std::string& state) {
  MetricsSnapshot s;
  s.version = "test";
  TargetSnapshot t;
  t.name = t.label = "sdb";
  t.target_type = "device";
  t.states = {"ok", "slow", "stalled"};
  t.state = state;
  s.targets.push_back(t);
  return s;
}

std::unique_ptr<MetricsExporter> start(MetricsServerSettings s = {}) {
  s.listen = "127.0.0.1:0";
  auto e = MetricsExporter::start(s);
  REQUIRE(e.ok());
  return std::move(e).value();
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("metrics server: GET, gzip and HEAD on /metrics, the page on /") {
  auto e = start();
  e->publish(one_target("ok"));
  const int port = e->port();
  auto r = http_exchange(port, get_request("/metrics"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r->headers.count("content-encoding") == 0);
  CHECK(r->body.find("sanwatch_build_info{") != std::string::npos);
  auto gz = http_exchange(port, get_request("/metrics", "Accept-Encoding: gzip\r\n"));
  REQUIRE(gz);
  CHECK(gz->status == 200);
  CHECK(gz->headers["content-encoding"] == "gzip");
  CHECK(gunzip(gz->body).find("sanwatch_build_info{") != std::string::npos);
  auto head = http_exchange(port, get_request("/metrics", "Connection: close\r\n", "HEAD"));
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(std::stoul(head->headers["content-length"]) > 100);
  CHECK(head->body.empty());
  auto root = http_exchange(port, get_request("/"));
  REQUIRE(root);
  CHECK(root->status == 200);
  CHECK(root->headers["content-type"] == "text/html; charset=utf-8");
  CHECK(root->body.find("<a href=\"/metrics\">") != std::string::npos);
}

TEST_CASE("metrics server: 405 with Allow for other methods, 404 for other paths") {
  auto e = start();
  const int port = e->port();
  for (const char* path : {"/metrics", "/"}) {
    INFO(path);
    auto post = http_exchange(port, get_request(path, "Content-Length: 3\r\n", "POST") + "abc");
    REQUIRE(post);
    CHECK(post->status == 405);
    CHECK(post->headers["allow"] == "GET, HEAD");
    auto del = http_exchange(port, get_request(path, "", "DELETE"));
    REQUIRE(del);
    CHECK(del->status == 405);
  }
  auto missing = http_exchange(port, get_request("/metricz"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  const auto stats = e->http_stats();
  CHECK(stats.requests.at(405) == 4);
  CHECK(stats.requests.at(404) == 1);
}

TEST_CASE("metrics server: oversized headers and URLs are refused and the connection closed") {
  MetricsServerSettings s;
  s.max_request_bytes = 4096;
  auto e = start(s);
  const int port = e->port();
  UniqueFd big(connect_from("127.0.0.1", port));
  REQUIRE(big.get() >= 0);
  const std::string req = get_request("/metrics", "X-Padding: " + std::string(8000, 'a') + "\r\n");
  REQUIRE(write(big.get(), req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  auto r = sanwatch::test::read_reply(big.get(), 5s);
  REQUIRE(r);
  CHECK(r->status == 431);
  CHECK(closed_within(big.get(), 2s));
  auto url = http_exchange(port, get_request("/metrics?" + std::string(8000, 'x')));
  REQUIRE(url);
  CHECK(url->status == 414);
  // libmicrohttpd answers these itself; they are counted all the same.
  CHECK(e->http_stats().requests[431] == 1);
  CHECK(e->http_stats().requests[414] == 1);
  // A request just under the limit is served.
  auto fits =
      http_exchange(port, get_request("/metrics", "X-Padding: " + std::string(3000, 'a') + "\r\n"));
  REQUIRE(fits);
  CHECK(fits->status == 200);
}

TEST_CASE("metrics server: the per-IP limit refuses and counts, other addresses are served") {
  MetricsServerSettings s;
  s.max_connections_per_ip = 3;
  auto e = start(s);
  const int port = e->port();
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) held.emplace_back(connect_from("127.0.0.2", port));
  REQUIRE(sanwatch::test::eventually([&] { return e->http_stats().open == 3; }, 5s, 10ms));
  UniqueFd extra(connect_from("127.0.0.2", port));
  REQUIRE(extra.get() >= 0);  // the kernel accepts; the server closes it at once
  CHECK(closed_within(extra.get(), 2s));
  CHECK(e->http_stats().refused_per_ip == 1);
  CHECK(e->http_stats().refused_max_connections == 0);
  auto r = http_exchange(port, get_request("/metrics"), "127.0.0.1");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(has(r->body, R"(sanwatch_http_connections_refused_total{reason="per_ip"} 1)"));
}

TEST_CASE("metrics server: the total limit refuses and counts, a freed slot is reused") {
  MetricsServerSettings s;
  s.max_connections = 4;
  auto e = start(s);
  const int port = e->port();
  std::vector<UniqueFd> held;
  for (int i = 0; i < 4; ++i)
    held.emplace_back(connect_from("127.0.0." + std::to_string(3 + i), port));
  REQUIRE(sanwatch::test::eventually([&] { return e->http_stats().open == 4; }, 5s, 10ms));
  UniqueFd extra(connect_from("127.0.0.9", port));
  REQUIRE(extra.get() >= 0);
  CHECK(closed_within(extra.get(), 2s));
  CHECK(e->http_stats().refused_max_connections == 1);
  held[0].reset();
  REQUIRE(sanwatch::test::eventually([&] { return e->http_stats().open == 3; }, 5s, 10ms));
  auto r = http_exchange(port, get_request("/metrics"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(has(r->body, R"(sanwatch_http_connections_refused_total{reason="max_connections"} 1)"));
}

TEST_CASE("metrics server: a connection idle for read_timeout is closed") {
  MetricsServerSettings s;
  s.read_timeout = 1s;
  auto e = start(s);
  UniqueFd silent(connect_from("127.0.0.1", e->port()));
  UniqueFd partial(connect_from("127.0.0.1", e->port()));
  const std::string line = "GET /metrics HTTP/1.1\r\n";
  REQUIRE(write(partial.get(), line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(closed_within(silent.get(), 4s));
  CHECK(closed_within(partial.get(), 4s));
  CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);
  REQUIRE(sanwatch::test::eventually([&] { return e->http_stats().open == 0; }, 2s, 10ms));
}

TEST_CASE("metrics server: a state change shows in the very next scrape") {
  auto e = start();
  e->publish(one_target("ok"));
  const std::string ok = R"(sanwatch_state{target="sdb",target_type="device",state="ok"} 1)";
  const std::string stalled =
      R"(sanwatch_state{target="sdb",target_type="device",state="stalled"} 1)";
  auto a = http_exchange(e->port(), get_request("/metrics"));
  REQUIRE(a);
  CHECK(has(a->body, ok));
  e->set_state("sdb", "stalled");
  auto b = http_exchange(e->port(), get_request("/metrics"));
  REQUIRE(b);
  CHECK(has(b->body, stalled));
  e->publish(one_target("slow"));
  auto c = http_exchange(e->port(), get_request("/metrics", "Accept-Encoding: gzip\r\n"));
  REQUIRE(c);
  CHECK(
      has(gunzip(c->body), R"(sanwatch_state{target="sdb",target_type="device",state="slow"} 1)"));
}

TEST_CASE("metrics server: stops at once with connections open") {
  auto e = start();
  UniqueFd idle(connect_from("127.0.0.1", e->port()));
  REQUIRE(sanwatch::test::eventually([&] { return e->http_stats().open == 1; }, 5s, 10ms));
  const auto t0 = std::chrono::steady_clock::now();
  e.reset();
  CHECK(std::chrono::steady_clock::now() - t0 < 200ms);
  CHECK(closed_within(idle.get(), 1s));
}

TEST_CASE("scrape cache: one render per change, shared by concurrent scrapes") {
  ScrapeCache cache(1h);
  const auto http = [] { return HttpStats{}; };
  cache.publish(one_target("ok"));
  const auto a = cache.body(false, http);
  const auto b = cache.body(false, http);
  CHECK(cache.renders() == 1);
  CHECK(a.data == b.data);                // the same buffer, not a copy
  const auto g = cache.body(true, http);  // compressed from the same render
  CHECK(g.gzipped);
  CHECK(cache.renders() == 1);
  CHECK(gunzip(*g.data) == *a.data);
  cache.set_state("sdb", "stalled");
  CHECK(cache.body(false, http).data->find(R"(state="stalled"} 1)") != std::string::npos);
  CHECK(cache.renders() == 2);
  cache.publish(one_target("ok"));
  std::vector<std::thread> scrapers;
  for (int i = 0; i < 8; ++i) scrapers.emplace_back([&, i] { (void)cache.body(i % 2, http); });
  for (auto& t : scrapers) t.join();
  CHECK(cache.renders() == 3);
}

TEST_CASE("scrape cache: a body older than max_age is rendered again") {
  ScrapeCache cache(20ms);
  const auto http = [] { return HttpStats{}; };
  (void)cache.body(false, http);
  std::this_thread::sleep_for(30ms);
  (void)cache.body(false, http);
  CHECK(cache.renders() == 2);
}
