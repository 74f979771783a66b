// SPDX-License-Identifier: Apache-2.0
// Fault: the agent's /metrics server under a slowloris (1,000 connections
// held open by a byte trickle, plus idle ones past the connection limits)
// and under a scrape flood (200 scrapes/s). The agent watches a fault-disk
// loop device meanwhile and must not notice: stall detection lag as without
// the load, a separate scraper answered every time, memory and descriptors
// bounded by the configured limits and given back afterwards; the limits
// and the read timeout from the configuration are the ones in force.
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <thread>

#include "agent_process.h"
#include "fault_disk.h"
#include "fault_row.h"
#include "http_load.h"
#include "http_probe.h"
#include "privileged.h"
#include "sanitizers.h"
#include "stall_probe.h"
#include "test_util.h"

using namespace std::chrono_literals;
using sanwatch::test::AgentProcess;
using sanwatch::test::FaultDisk;
using sanwatch::test::metric_sample;
using sanwatch::test::percentile;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kStallS = 0.5;
constexpr int kBaseStalls = 4;
constexpr int kHeld = 1000;  // the slowloris
constexpr int kMaxConnections = 1100;
constexpr int kPerIp = 16;
constexpr int kReadTimeoutS = 2;
constexpr int kPerIpBatch = 100;  // idle, from one address: kPerIp kept
constexpr int kMaxBatch = 150;    // idle, 10 per address: fills the rest
constexpr int kFloodThreads = 4;  // 50 scrapes/s each
constexpr long kRssBoundKib = 64 * 1024;

std::chrono::seconds hold_time() { return sanwatch::test::full_fault_run() ? 30s : 8s; }

std::string config_for(const FaultDisk& d) {
  return fmt::format(
      "[devices]\ninclude = [\"{}\"]\n[thresholds]\nstall = \"500ms\"\nrecovery = \"300ms\"\n"
      "slow_io = \"200ms\"\nslow_window = \"1s\"\n[canary]\ntargets = \"none\"\n[metrics]\n"
      "listen = \"127.0.0.1:0\"\nmax_connections = {}\nmax_connections_per_ip = {}\n"
      "read_timeout = \"{}s\"\n",
      d.loop_name(), kMaxConnections, kPerIp, kReadTimeoutS);
}

int port_of(const AgentProcess& agent) {
  const std::string a = agent.metrics_address();
  return std::stoi(a.substr(a.rfind(':') + 1));
}

// One scrape from 127.0.0.1 that must be answered; its body.
std::string scrape(int port) {
  const auto t0 = Clock::now();
  auto r = sanwatch::test::http_exchange(
      port, sanwatch::test::get_request("/metrics", "Accept-Encoding: identity\r\n"));
  INFO("scrape failed after " << std::chrono::duration<double>(Clock::now() - t0).count()
                              << " s, errno " << errno);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return r->body;
}

double series(int port, const std::string& name) {
  INFO(name);
  const double v = metric_sample(scrape(port), name);
  REQUIRE(v >= 0);
  return v;
}

long rss_kib(pid_t pid) { return static_cast<long>(sanwatch::test::proc_status_kib(pid, "VmRSS")); }

// What a phase of stalls measured: lags and the agent's peaks.
struct Watch {
  std::vector<double> lag_ms;
  long rss_peak_kib = 0;
  int fds_peak = 0;
};

// Stalls one after another until `at_least` has passed and `min_stalls`
// were timed, the agent's RSS and descriptors sampled between them.
Watch stalls_for(AgentProcess& agent, FaultDisk& disk, std::chrono::seconds at_least,
                 int min_stalls) {
  Watch w;
  const auto end = Clock::now() + at_least;
  while (Clock::now() < end || static_cast<int>(w.lag_ms.size()) < min_stalls) {
    w.lag_ms.push_back(sanwatch::test::stall_lag_ms(agent, disk, kStallS));
    w.rss_peak_kib = std::max(w.rss_peak_kib, rss_kib(agent.pid()));
    w.fds_peak = std::max(w.fds_peak, sanwatch::test::proc_fd_count(agent.pid()));
  }
  return w;
}

nlohmann::json lag_json(const std::vector<double>& v) {
  return {{"p50", percentile(v, 0.5)},
          {"p99", percentile(v, 0.99)},
          {"max", percentile(v, 1)},
          {"n", v.size()}};
}

// Seconds until the server closed each of `fds` (EOF or reset; the last
// byte of a refused connection is a reset), -1 if not within `timeout`.
std::vector<double> close_times_s(const std::vector<int>& fds, std::chrono::seconds timeout) {
  std::vector<double> at(fds.size(), -1);
  const auto t0 = Clock::now();
  std::size_t left = fds.size();
  while (left > 0 && Clock::now() < t0 + timeout) {
    std::vector<pollfd> p;
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (at[i] < 0) p.push_back({fds[i], POLLIN, 0});
    if (poll(p.data(), p.size(), 50) <= 0) continue;
    const double now = std::chrono::duration<double>(Clock::now() - t0).count();
    for (std::size_t i = 0, k = 0; i < fds.size(); ++i) {
      if (at[i] >= 0) continue;
      char c;
      if (p[k++].revents && read(fds[i], &c, 1) <= 0) {
        at[i] = now;
        --left;
      }
    }
  }
  return at;
}

// Idle connections past the limits: kPerIpBatch from one address (the
// per-IP limit keeps kPerIp), then kMaxBatch from 15 others (the total
// limit keeps what is left). Refused ones are closed at once, kept ones at
// the read timeout. Returns the close times.
std::vector<double> excess_batch(int port) {
  std::vector<int> fds;
  for (int i = 0; i < kPerIpBatch; ++i)
    fds.push_back(sanwatch::test::connect_from("127.0.0.200", port));
  for (int i = 0; i < kMaxBatch; ++i)
    fds.push_back(sanwatch::test::connect_from("127.0.0." + std::to_string(150 + i / 10), port));
  for (const int fd : fds) REQUIRE(fd >= 0);
  auto at = close_times_s(fds, std::chrono::seconds(kReadTimeoutS + 5));
  for (const int fd : fds) close(fd);
  return at;
}

// The agent's side of a test case: stall lags before and under the load,
// its RSS and descriptors before, at peak and after.
struct AgentFigures {
  Watch base, load;
  long rss0 = 0, rss_after = 0;
  int fds0 = 0, fds_after = 0;
};

// Under the load, stall lag p99 within noise of the baseline's worst; RSS
// bounded; descriptors at most `extra_fds` above before, and back after.
void check_agent(const AgentFigures& a, int extra_fds) {
  CHECK(percentile(a.load.lag_ms, 0.99) < percentile(a.base.lag_ms, 1) + 250);
  CHECK(a.load.fds_peak <= a.fds0 + extra_fds);
  CHECK(a.fds_after <= a.fds0 + 1);
  // After: the allocator keeps what freed connection pools held (RSS stays
  // near the peak), but no more than that. ASan/TSan: RSS means nothing.
  if (!sanwatch::test::kAsanOrTsan) {
    CHECK(a.load.rss_peak_kib - a.rss0 < kRssBoundKib);
    CHECK(a.rss_after - a.rss0 < kRssBoundKib);
  }
}

nlohmann::json agent_json(const AgentFigures& a) {
  return {{"stall_lag_ms_baseline", lag_json(a.base.lag_ms)},
          {"stall_lag_ms_load", lag_json(a.load.lag_ms)},
          {"rss_kib", {{"before", a.rss0}, {"peak", a.load.rss_peak_kib}, {"after", a.rss_after}}},
          {"fds", {{"before", a.fds0}, {"peak", a.load.fds_peak}, {"after", a.fds_after}}}};
}

nlohmann::json latency_json(const std::vector<double>& ms) {
  return {{"p50", percentile(ms, 0.5)}, {"p99", percentile(ms, 0.99)}, {"max", percentile(ms, 1)}};
}

// Starts the agent's figures: the baseline stalls, RSS and descriptors.
AgentFigures baseline(AgentProcess& agent, FaultDisk& disk, int port) {
  AgentFigures a;
  a.base = stalls_for(agent, disk, 0s, kBaseStalls);
  (void)scrape(port);
  a.rss0 = rss_kib(agent.pid());
  a.fds0 = sanwatch::test::proc_fd_count(agent.pid());
  return a;
}

// Ends them once the load is gone: descriptors given back, RSS after.
void after_load(AgentProcess& agent, AgentFigures& a) {
  const pid_t pid = agent.pid();
  CHECK(sanwatch::test::eventually([&] { return sanwatch::test::proc_fd_count(pid) <= a.fds0 + 1; },
                                   10s, 100ms));
  a.fds_after = sanwatch::test::proc_fd_count(pid);
  a.rss_after = rss_kib(pid);
  CHECK(agent.process().running());
  CHECK(agent.stop() == 0);
}

struct Slowloris {
  sanwatch::test::ScrapeStats scraped;  // the separate scraper's
  std::vector<double> closed_at;        // the excess batch's close times
  double open = 0;                      // sanwatch_http_connections during the hold
  std::size_t dropped = 0;              // held connections the server closed
  double per_ip = 0, at_max = 0;        // refusals by reason, from /metrics
  long rss_first_round = 0;             // the agent's, once they are all gone
};

// The 1,000, 10 from each of 127.0.0.10 .. 127.0.0.109, a byte each every
// 500 ms (the read timeout is 2 s), with a scraper beside them and stalls
// for the hold time; then the excess batch while they are still held.
Slowloris hold_slowloris(AgentProcess& agent, FaultDisk& disk, int port, Watch& stalls) {
  Slowloris r;
  {
    sanwatch::test::Slowloris slow(port, kHeld, 10, 10, 500ms);
    REQUIRE(slow.connected() == kHeld);
    REQUIRE(sanwatch::test::eventually(
        [&] { return series(port, "sanwatch_http_connections") >= kHeld + 1; }, 10s, 100ms));
    sanwatch::test::ScrapeLoad scraper(port, 1, 100ms);
    stalls = stalls_for(agent, disk, hold_time(), 3);
    r.scraped = scraper.stop();
    r.open = metric_sample(r.scraped.last_body, "sanwatch_http_connections");
    r.closed_at = excess_batch(port);
    r.dropped = slow.dropped();
  }
  // Read once the 1,000 are gone: at the limit, a scrape could meet a
  // timed-out connection that is closed but not yet cleaned up (a loop pass
  // of the server later), still counted, and be refused itself.
  const std::string body = scrape(port);
  r.per_ip = metric_sample(body, R"(sanwatch_http_connections_refused_total{reason="per_ip"})");
  r.at_max =
      metric_sample(body, R"(sanwatch_http_connections_refused_total{reason="max_connections"})");
  CHECK(sanwatch::test::eventually([&] { return series(port, "sanwatch_http_connections") <= 1; },
                                   10s, 100ms));
  r.rss_first_round = rss_kib(agent.pid());
  return r;
}

// More rounds of the 1,000 (each held 1 s, no stalls) once the first is
// gone: the agent's RSS after each, in KiB. What the allocator kept from
// earlier rounds is reused: RSS settles (measured: +1-3 MiB for the next
// two or three rounds, then flat), where a leaked connection pool (10 KiB)
// would add ~10 MiB a round.
std::vector<long> more_rounds(AgentProcess& agent, int port) {
  std::vector<long> rss;
  for (int i = 0; i < (sanwatch::test::full_fault_run() ? 5 : 1); ++i) {
    {
      sanwatch::test::Slowloris slow(port, kHeld, 10, 10, 500ms);
      REQUIRE(slow.connected() == kHeld);
      REQUIRE(sanwatch::test::eventually(
          [&] { return series(port, "sanwatch_http_connections") >= kHeld + 1; }, 10s, 100ms));
      std::this_thread::sleep_for(1s);
    }
    CHECK(sanwatch::test::eventually([&] { return series(port, "sanwatch_http_connections") <= 1; },
                                     10s, 100ms));
    rss.push_back(rss_kib(agent.pid()));
  }
  return rss;
}

// The configured limits are the ones in force: the per-IP one refused all
// but kPerIp of one address's batch, the total one what exceeded it (fewer
// if a held connection was gone; +-2: a scrape's connection not cleaned up
// yet counts); refused ones closed at once, the kept idle ones at the read
// timeout. Returns the close times of the two kinds.
std::pair<std::vector<double>, std::vector<double>> check_limits(const Slowloris& r) {
  const int kept_max = kMaxConnections - kHeld - kPerIp;
  CHECK(r.per_ip == kPerIpBatch - kPerIp);
  CHECK(r.at_max <= kMaxBatch - kept_max + 2);
  CHECK(r.at_max >= kMaxBatch - kept_max - static_cast<double>(r.dropped) - 2);
  std::vector<double> refused_s, timed_out_s;
  for (const double s : r.closed_at) {
    CHECK(s >= 0);
    (s < kReadTimeoutS / 2.0 ? refused_s : timed_out_s).push_back(s);
  }
  CHECK(refused_s.size() == static_cast<std::size_t>(r.per_ip + r.at_max));
  for (const double s : timed_out_s) CHECK(s < kReadTimeoutS + 2);
  return {refused_s, timed_out_s};
}

void print_slowloris_row(const AgentFigures& a, const Slowloris& r, const std::vector<long>& rounds,
                         const sanwatch::test::Spread& idle, double refused_max_s) {
  const double hold_s = std::chrono::duration<double>(hold_time()).count();
  const double base_max = percentile(a.base.lag_ms, 1), p99 = percentile(a.load.lag_ms, 0.99);
  const double scrape_p99 = percentile(r.scraped.latency_ms, 0.99);
  WARN(fmt::format(
      "slowloris {} s: stall lag p99 {:.1f} ms (baseline max {:.1f}, n={}/{}); scraper {} "
      "answered, {} failed, p50 {:.1f} ms p99 {:.1f} ms; open {}; refused per_ip {} "
      "max_connections {}; idle kept closed after {:.2f} / {:.2f} / {:.2f} s, refused after "
      "{:.3f} s max; agent RSS {} -> {} peak -> {} KiB, fds {} -> {} peak -> {}",
      hold_s, p99, base_max, a.base.lag_ms.size(), a.load.lag_ms.size(), r.scraped.answered,
      r.scraped.failed, percentile(r.scraped.latency_ms, 0.5), scrape_p99, r.open, r.per_ip,
      r.at_max, idle.min, idle.median, idle.max, refused_max_s, a.rss0, a.load.rss_peak_kib,
      a.rss_after, a.fds0, a.load.fds_peak, a.fds_after));
  nlohmann::json m = agent_json(a);
  m.update({{"hold_s", hold_s},
            {"scrape_ms", latency_json(r.scraped.latency_ms)},
            {"scrapes", {{"answered", r.scraped.answered}, {"failed", r.scraped.failed}}},
            {"connections_open", static_cast<long long>(r.open)},
            {"refused",
             {{"per_ip", static_cast<long long>(r.per_ip)},
              {"max_connections", static_cast<long long>(r.at_max)}}},
            {"idle_closed_s", to_json(idle)},
            {"rss_kib_after_rounds", rounds}});
  sanwatch::test::print_fault_row(
      "slowloris: 1,000 idle connections to /metrics",
      fmt::format("{} connections trickling a header byte per 500 ms for {:.0f} s (read_timeout "
                  "{} s), then {} idle past max_connections_per_ip {} and max_connections {}; {} "
                  "stalls meanwhile",
                  kHeld, hold_s, kReadTimeoutS, kPerIpBatch + kMaxBatch, kPerIp, kMaxConnections,
                  a.load.lag_ms.size()),
      fmt::format("stall lag p99 {:.0f} ms (baseline max {:.0f}); every scrape answered, p99 "
                  "{:.0f} ms; {:.0f} + {:.0f} refused (per_ip + max_connections), the kept idle "
                  "closed at {:.1f}-{:.1f} s",
                  p99, base_max, scrape_p99, r.per_ip, r.at_max, idle.min, idle.max),
      fmt::format(
          "nothing; RSS +{} KiB at peak, then {:+} KiB over {} more round(s), fds back to {}",
          a.load.rss_peak_kib - a.rss0, rounds.back() - rounds.front(), rounds.size() - 1,
          a.fds_after),
      m);
}

struct Flood {
  sanwatch::test::ScrapeStats flood, scraped;
  double seconds = 0, renders = 0;
};

// 200 scrapes/s from 127.0.0.2 and a separate scraper, stalls meanwhile.
Flood flood_for(AgentProcess& agent, FaultDisk& disk, int port, Watch& stalls) {
  Flood f;
  const double renders0 = series(port, "sanwatch_scrape_renders_total");
  const auto t0 = Clock::now();
  {
    sanwatch::test::ScrapeLoad flooder(port, kFloodThreads, 20ms, "127.0.0.2");
    sanwatch::test::ScrapeLoad scraper(port, 1, 100ms);
    stalls = stalls_for(agent, disk, hold_time(), 3);
    f.flood = flooder.stop();
    f.scraped = scraper.stop();
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  f.renders = series(port, "sanwatch_scrape_renders_total") - renders0;
  return f;
}

void print_flood_row(const AgentFigures& a, const Flood& f) {
  const double rate = f.flood.answered / f.seconds;
  const double base_max = percentile(a.base.lag_ms, 1), p99 = percentile(a.load.lag_ms, 0.99);
  const double scrape_p99 = percentile(f.scraped.latency_ms, 0.99);
  WARN(fmt::format(
      "scrape flood {:.1f} s: {} answered ({:.0f}/s), {} failed, flood p99 {:.1f} ms; scraper {} "
      "answered, {} failed, p50 {:.1f} ms p99 {:.1f} ms; {:.0f} renders; stall lag p99 {:.1f} ms "
      "(baseline max {:.1f}, n={}/{}); agent RSS {} -> {} peak -> {} KiB, fds {} -> {} peak -> {}",
      f.seconds, f.flood.answered, rate, f.flood.failed, percentile(f.flood.latency_ms, 0.99),
      f.scraped.answered, f.scraped.failed, percentile(f.scraped.latency_ms, 0.5), scrape_p99,
      f.renders, p99, base_max, a.base.lag_ms.size(), a.load.lag_ms.size(), a.rss0,
      a.load.rss_peak_kib, a.rss_after, a.fds0, a.load.fds_peak, a.fds_after));
  nlohmann::json m = agent_json(a);
  m.update(
      {{"seconds", f.seconds},
       {"flood", {{"answered", f.flood.answered}, {"failed", f.flood.failed}, {"per_s", rate}}},
       {"flood_ms", latency_json(f.flood.latency_ms)},
       {"scrape_ms", latency_json(f.scraped.latency_ms)},
       {"renders", static_cast<long long>(f.renders)}});
  sanwatch::test::print_fault_row(
      "scraper flood: 200 scrapes/s",
      fmt::format("{} scrapers at 50/s each (half gzip) for {:.0f} s, a separate scraper at 10/s; "
                  "{} stalls meanwhile",
                  kFloodThreads, f.seconds, a.load.lag_ms.size()),
      fmt::format("stall lag p99 {:.0f} ms (baseline max {:.0f}); {} + {} scrapes all answered "
                  "({:.0f}/s), scraper p99 {:.0f} ms; {:.0f} renders",
                  p99, base_max, f.flood.answered, f.scraped.answered, rate, scrape_p99, f.renders),
      fmt::format("nothing; RSS +{} KiB at peak, fds back to {}", a.load.rss_peak_kib - a.rss0,
                  a.fds_after),
      m);
}

}  // namespace

TEST_CASE("faults: slowloris, 1,000 held connections to /metrics, the agent unaffected") {
  sanwatch::test::require_privileged("slowloris fault test");
  sanwatch::test::raise_nofile(4096);  // the client ends of 1,250 connections
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  const int port = port_of(agent);
  AgentFigures a = baseline(agent, disk, port);
  const Slowloris r = hold_slowloris(agent, disk, port, a.load);
  const std::vector<long> rounds = more_rounds(agent, port);
  after_load(agent, a);
  // No pool (10 KiB) leaked per connection: under 4 KiB a connection per
  // round, 8 KiB for the first one after the hold, where the allocator may
  // still settle (+1.3 to +2.8 MiB seen, once over 4 MiB in a CI run).
  for (std::size_t i = 0; i < rounds.size(); ++i)
    if (!sanwatch::test::kAsanOrTsan)
      CHECK(rounds[i] - (i ? rounds[i - 1] : r.rss_first_round) < (i ? 4 : 8) * kHeld);

  // The trickle kept all 1,000 open through the hold; the scraper beside
  // them got every answer, quickly. A descriptor per connection at most.
  const double hold_s = std::chrono::duration<double>(hold_time()).count();
  CHECK(r.dropped == 0);
  CHECK(r.open >= kHeld + 1);
  CHECK(r.scraped.failed == 0);
  CHECK(r.scraped.answered >= hold_s * 10 * 0.8);
  CHECK(percentile(r.scraped.latency_ms, 0.99) < 1000);
  check_agent(a, kMaxConnections + 8);
  const auto [refused_s, timed_out_s] = check_limits(r);
  std::vector<long> all{r.rss_first_round};
  all.insert(all.end(), rounds.begin(), rounds.end());
  print_slowloris_row(a, r, all, sanwatch::test::spread(timed_out_s),
                      sanwatch::test::spread(refused_s).max);
}

TEST_CASE("faults: scraper flood, 200 scrapes/s of /metrics, the agent unaffected") {
  sanwatch::test::require_privileged("scrape flood fault test");
  sanwatch::test::raise_nofile(4096);
  FaultDisk disk;
  AgentProcess agent(config_for(disk));
  const int port = port_of(agent);
  AgentFigures a = baseline(agent, disk, port);
  const Flood f = flood_for(agent, disk, port, a.load);
  after_load(agent, a);

  // Every scrape answered, at the rate asked; few renders for them all (one
  // per change or per 100 ms, not per scrape). A descriptor per scraper.
  CHECK(f.flood.failed == 0);
  CHECK(f.scraped.failed == 0);
  CHECK(f.flood.answered / f.seconds >= 200 * 0.9);
  CHECK(f.renders * 10 < f.flood.answered + f.scraped.answered);
  CHECK(percentile(f.scraped.latency_ms, 0.99) < 1000);
  check_agent(a, 2 * (kFloodThreads + 1) + 8);
  print_flood_row(a, f);
}
