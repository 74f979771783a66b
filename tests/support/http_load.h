// SPDX-License-Identifier: Apache-2.0
// Load on a metrics server, for the slowloris and scrape-flood tests (the
// in-process integration test and the fault rows against the agent):
// connections held open by a byte trickle, and scrapers at a fixed rate that
// time every answer. Loopback only (http_probe.h), from chosen addresses of
// 127/8 so that per-IP limits can be kept or hit on purpose.
#pragma once

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics_text.h"

namespace sanwatch::test {

// Raises this process's open-file soft limit (and the hard one, as root) to
// at least `want`: the client ends of ~1,000 connections. Skips the test
// (exit 77), or fails it when privileged tests are required, if it cannot.
void raise_nofile(rlim_t want);

// The value at fraction p (0..1) of v (the sample at rank p*n, 0 if empty).
double percentile(std::vector<double> v, double p);

// `count` connections to 127.0.0.1:port, `per_address` from each of
// 127.0.0.<first_address>, <first_address + 1>, ... Each sends a request
// line, then one header byte every `every` from a thread of its own: never
// a whole request, yet never idle for a read timeout longer than `every`.
// Closed when destroyed.
class Slowloris {
 public:
  Slowloris(int port, int count, int per_address, int first_address,
            std::chrono::milliseconds every);
  ~Slowloris();
  Slowloris(const Slowloris&) = delete;
  Slowloris& operator=(const Slowloris&) = delete;

  // Connections that were established.
  std::size_t connected() const { return fds_.size(); }
  // Of those, how many the server has closed so far (a trickled byte failed).
  std::size_t dropped() const { return dropped_; }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> dropped_{0};
  std::thread trickle_;
};

struct ScrapeStats {
  std::vector<double> latency_ms;  // connect to the whole answer read, per scrape
  int answered = 0, failed = 0;    // failed: no answer within 5 s, or not 200
  std::string last_body;           // the last uncompressed 200 body
};

// `threads` scrapers of /metrics, each one scrape every `period` on a fresh
// connection from `source` (back to back when answers fall behind), until
// stop(); odd-numbered threads ask for gzip. 4 threads at 20 ms: 200/s.
class ScrapeLoad {
 public:
  ScrapeLoad(int port, int threads, std::chrono::milliseconds period,
             std::string source = "127.0.0.1");
  ~ScrapeLoad() { stop(); }
  ScrapeLoad(const ScrapeLoad&) = delete;
  ScrapeLoad& operator=(const ScrapeLoad&) = delete;

  // Stops and joins the threads (idempotent); what they measured.
  ScrapeStats stop();

 private:
  void run(int index, std::chrono::milliseconds period);

  int port_;
  std::string source_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  ScrapeStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace sanwatch::test
