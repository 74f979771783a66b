// SPDX-License-Identifier: Apache-2.0
// The /metrics server under a slowloris and a scrape flood, in process on
// loopback (all of 127/8): held-open connections and a flood must not delay
// Prometheus's scrapes or the event loop's publishes, and must cost memory
// in proportion to the connection limit. No root needed (integration label
// only); about 31 s + 10 s.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "exporters/metrics.h"
#include "http_probe.h"
#include "privileged.h"
#include "proc_figures.h"
#include "sanitizers.h"
#include "test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sanwatch::test::connect_from;
using sanwatch::test::get_request;
using sanwatch::test::http_exchange;

namespace {

// Client and server ends of ~2,000 connections plus the refused batch.
void raise_nofile(rlim_t want) {
  rlimit l{};
  getrlimit(RLIMIT_NOFILE, &l);
  if (l.rlim_max < want) {
    rlimit up{want, want};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) return;
    const std::string why = "the slowloris test needs RLIMIT_NOFILE >= " + std::to_string(want) +
                            " (hard limit " + std::to_string(l.rlim_max) + ")";
    if (sanwatch::test::privileged_tests_required()) FAIL(why);
    std::fprintf(stderr, "SKIP: %s\n", why.c_str());
    std::exit(sanwatch::test::kSkipExitCode);
  }
  l.rlim_cur = std::max(l.rlim_cur, want);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &l) == 0);
}

long rss_kib() { return static_cast<long>(sanwatch::test::proc_status_kib(getpid(), "VmRSS")); }

// 256 devices with I/O counters and empty histograms: ~40k series, a render
// of a few ms.
MetricsSnapshot big_snapshot() {
  MetricsSnapshot s;
  s.version = "test";
  for (int i = 0; i < 256; ++i) {
    TargetSnapshot t;
    t.name = t.label = "sd" + std::to_string(i);
    t.target_type = "device";
    t.states = {"ok", "slow", "stalled", "failed", "gone"};
    t.state = "ok";
    DeviceStats io;
    io.op(Op::kRead).count = io.op(Op::kWrite).count = 1000 + i;
    t.io = io;
    t.oldest_start_ns = 0;
    s.targets.push_back(t);
  }
  return s;
}

// The event loop's side: publishes every second, a state change every
// 100 ms; records the longest call (the loop must never wait on a scrape).
class Publisher {
 public:
  explicit Publisher(MetricsExporter& e)
      : thread_([this, &e] {
          const MetricsSnapshot snap = big_snapshot();
          for (int n = 0; !stop_; ++n) {
            const auto t0 = Clock::now();
            if (n % 10 == 0)
              e.publish(snap);
            else
              e.set_state("sd" + std::to_string(n % 256), n % 2 ? "slow" : "ok");
            const auto took = Clock::now() - t0;
            worst_ = std::max<long>(
                worst_, std::chrono::duration_cast<std::chrono::microseconds>(took).count());
            std::this_thread::sleep_for(100ms);
          }
        }) {}
  ~Publisher() {
    stop_ = true;
    thread_.join();
  }
  long worst_us() const { return worst_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> worst_{0};
  std::thread thread_;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

double sample(const std::string& body, const std::string& series) {
  const auto p = body.find("\n" + series + " ");
  return p == std::string::npos ? -1 : std::stod(body.substr(p + series.size() + 2));
}

}  // namespace

TEST_CASE("slowloris: 1,000 trickling connections and a refused batch do not delay scrapes") {
  raise_nofile(8192);
  MetricsServerSettings s;
  s.listen = "127.0.0.1:0";
  s.max_connections = 1100;  // the 1,000 + 32 from the batch's address + scrapers
  auto started = MetricsExporter::start(s);
  REQUIRE(started.ok());
  auto& e = *started.value();
  const int port = e.port();
  e.publish(big_snapshot());
  REQUIRE(http_exchange(port, get_request("/metrics")));  // warm up: first render
  const long rss0 = rss_kib();
  Publisher publisher(e);

  // 1,000 connections, 10 from each of 127.0.0.10 .. 127.0.0.109, that sent
  // a request line and then trickle a header byte per second.
  std::vector<UniqueFd> slow;
  const std::string line = "GET /metrics HTTP/1.1\r\n";
  for (int a = 10; a < 110; ++a)
    for (int k = 0; k < 10; ++k) {
      slow.emplace_back(connect_from("127.0.0." + std::to_string(a), port));
      REQUIRE(slow.back().valid());
      REQUIRE(write(slow.back().get(), line.data(), line.size()) == ssize_t(line.size()));
    }
  REQUIRE(sanwatch::test::eventually([&] { return e.http_stats().open >= 1000; }, 10s, 50ms));
  // 1,000 attempts from one address: the first 32 are kept, the rest refused.
  {
    std::vector<UniqueFd> batch;
    for (int i = 0; i < 1000; ++i) batch.emplace_back(connect_from("127.0.0.200", port));
    REQUIRE(sanwatch::test::eventually([&] { return e.http_stats().refused_per_ip >= 968; }, 10s,
                                       50ms));
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    const std::string header = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for (std::size_t i = 0; !stop; ++i) {
      for (auto& fd : slow) (void)!write(fd.get(), &header[i % header.size()], 1);
      std::this_thread::sleep_for(1s);
    }
  });

  std::vector<double> latency_ms;
  long rss_peak = 0;
  int failed = 0;
  std::string last;
  const auto end = Clock::now() + 30s;
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    auto r = http_exchange(port, get_request("/metrics", "Accept-Encoding: identity\r\n"),
                           "127.0.0.1", 5s);
    latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || r->status != 200)
      ++failed;
    else
      last = r->body;
    rss_peak = std::max(rss_peak, rss_kib());
    std::this_thread::sleep_until(t0 + 100ms);
  }
  stop = true;
  trickle.join();
  const auto http = e.http_stats();
  const double p99 = percentile(latency_ms, 0.99);
  WARN("slowloris: " << latency_ms.size() << " scrapes, " << failed << " failed, p50 "
                     << percentile(latency_ms, 0.5) << " ms, p99 " << p99 << " ms, max "
                     << percentile(latency_ms, 1.0) << " ms; open " << http.open
                     << ", refused per_ip " << http.refused_per_ip << ", max_connections "
                     << http.refused_max_connections << "; RSS " << rss0 << " -> " << rss_peak
                     << " KiB (+" << (rss_peak - rss0) / 1024 << " MiB); publish/set_state worst "
                     << publisher.worst_us() << " us");
  CHECK(failed == 0);
  CHECK(latency_ms.size() >= 200);
  CHECK(p99 < 1000);
  CHECK(http.open >= 1000);  // the trickle kept them alive
  CHECK(http.refused_per_ip >= 968);
  CHECK(sample(last, R"(sanwatch_http_connections_refused_total{reason="per_ip"})") >= 968);
  CHECK(sample(last, "sanwatch_http_connections") >= 1000);
  // ASan keeps freed memory in its quarantine (256 MiB by default) and
  // maps shadow memory: RSS says nothing about the server there.
  if (!sanwatch::test::kAsanOrTsan) CHECK(rss_peak - rss0 < 64 * 1024);
  CHECK(publisher.worst_us() < 50'000);
}

TEST_CASE("scrape flood: 200 scrapes/s for 10 s are all answered from few renders") {
  raise_nofile(8192);
  auto started = MetricsExporter::start("127.0.0.1:0");
  REQUIRE(started.ok());
  auto& e = *started.value();
  const int port = e.port();
  e.publish(big_snapshot());
  Publisher publisher(e);
  const std::uint64_t renders0 = e.renders();
  std::atomic<int> answered{0}, failed{0};
  std::vector<std::thread> scrapers;
  const auto t0 = Clock::now();
  for (int t = 0; t < 4; ++t)
    scrapers.emplace_back([&, t] {
      // 50/s each, every 20 ms, gzip on half of the threads.
      const std::string req = get_request("/metrics", t % 2 ? "Accept-Encoding: gzip\r\n" : "");
      for (int i = 0; i < 500; ++i) {
        auto r = http_exchange(port, req);
        (r && r->status == 200 ? answered : failed)++;
        std::this_thread::sleep_until(t0 + (i + 1) * 20ms);
      }
    });
  for (auto& t : scrapers) t.join();
  const double took_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::uint64_t renders = e.renders() - renders0;
  WARN("flood: " << answered << " scrapes answered, " << failed << " failed in " << took_s << " s; "
                 << renders << " renders; publish/set_state worst " << publisher.worst_us()
                 << " us");
  CHECK(failed == 0);
  CHECK(answered == 2000);
  CHECK(took_s < 12);
  CHECK(renders * 10 < 2000u);  // one per change or per 100 ms, not per scrape
  CHECK(publisher.worst_us() < 50'000);
}
