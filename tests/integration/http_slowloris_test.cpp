// SPDX-License-Identifier: Apache-2.0
// The /metrics server in process on loopback, under a slowloris (1,000
// trickling connections) and a scrape flood (200/s) at once, serving a
// 40k-series snapshot: the event loop's publishes must never wait on a
// scrape, and the flood must be served from few renders. What the agent's
// fault rows (tests/faults/http_test.cpp: stall lag, scrape latency, limits
// and read timeout from the config, memory and descriptors) cannot see:
// the publish call's own duration, and a render that costs something. No
// root needed (integration label only); about 10 s.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "exporters/metrics.h"
#include "http_load.h"
#include "http_probe.h"
#include "test_util.h"

using namespace sanwatch;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

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

}  // namespace

TEST_CASE("slowloris and scrape flood at once: publishes never wait, few renders serve 200/s") {
  sanwatch::test::raise_nofile(4096);
  MetricsServerSettings s;
  s.listen = "127.0.0.1:0";
  s.max_connections = 1100;  // the 1,000 + the flood and its stragglers
  auto started = MetricsExporter::start(s);
  REQUIRE(started.ok());
  auto& e = *started.value();
  const int port = e.port();
  e.publish(big_snapshot());
  REQUIRE(sanwatch::test::http_exchange(port, sanwatch::test::get_request("/metrics")));
  Publisher publisher(e);
  // 10 from each of 127.0.0.10 .. 127.0.0.109, a header byte per second.
  sanwatch::test::Slowloris slow(port, 1000, 10, 10, 1s);
  REQUIRE(slow.connected() == 1000);
  REQUIRE(sanwatch::test::eventually([&] { return e.http_stats().open >= 1000; }, 10s, 50ms));
  const std::uint64_t renders0 = e.renders();
  const auto t0 = Clock::now();
  sanwatch::test::ScrapeLoad flood(port, 4, 20ms);  // 50/s each, gzip on half
  std::this_thread::sleep_for(10s);
  const auto stats = flood.stop();
  const double took_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::uint64_t renders = e.renders() - renders0;
  const auto http = e.http_stats();
  const double p99 = sanwatch::test::percentile(stats.latency_ms, 0.99);
  WARN("slowloris + flood: " << stats.answered << " scrapes answered, " << stats.failed
                             << " failed in " << took_s << " s, p99 " << p99 << " ms; " << renders
                             << " renders; open " << http.open << "; publish/set_state worst "
                             << publisher.worst_us() << " us");
  CHECK(stats.failed == 0);
  CHECK(stats.answered >= 0.9 * 200 * took_s);
  CHECK(p99 < 1000);
  CHECK(http.open >= 1000);  // the trickle kept them alive
  CHECK(slow.dropped() == 0);
  CHECK(renders * 10 < static_cast<std::uint64_t>(stats.answered));  // per change or 100 ms
  CHECK(publisher.worst_us() < 50'000);
}
