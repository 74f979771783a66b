// SPDX-License-Identifier: Apache-2.0
#include "http_load.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>

#include "http_probe.h"
#include "privileged.h"

namespace sanwatch::test {

using Clock = std::chrono::steady_clock;

void raise_nofile(rlim_t want) {
  rlimit l{};
  getrlimit(RLIMIT_NOFILE, &l);
  if (l.rlim_max < want) {
    rlimit up{want, want};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) return;
    const std::string why = "the slowloris tests need RLIMIT_NOFILE >= " + std::to_string(want) +
                            " (hard limit " + std::to_string(l.rlim_max) + ")";
    if (privileged_tests_required()) FAIL(why);
    std::fprintf(stderr, "SKIP: %s\n", why.c_str());
    std::exit(kSkipExitCode);
  }
  l.rlim_cur = std::max(l.rlim_cur, want);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &l) == 0);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

Slowloris::Slowloris(int port, int count, int per_address, int first_address,
                     std::chrono::milliseconds every) {
  const std::string line = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < count; ++i) {
    const int a = first_address + i / per_address;
    const int fd = connect_from("127.0.0." + std::to_string(a), port);
    if (fd < 0) break;
    fds_.push_back(fd);
    if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != ssize_t(line.size())) ++dropped_;
  }
  trickle_ = std::thread([this, every] {
    const std::string header = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    std::vector<bool> gone(fds_.size());
    for (std::size_t i = 0; !stop_; ++i) {
      const auto next = Clock::now() + every;
      for (std::size_t k = 0; k < fds_.size(); ++k)
        if (!gone[k] && send(fds_[k], &header[i % header.size()], 1, MSG_NOSIGNAL) != 1) {
          gone[k] = true;
          ++dropped_;
        }
      while (!stop_ && Clock::now() < next)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
}

Slowloris::~Slowloris() {
  stop_ = true;
  trickle_.join();
  for (const int fd : fds_) close(fd);
}

ScrapeLoad::ScrapeLoad(int port, int threads, std::chrono::milliseconds period, std::string source)
    : port_(port), source_(std::move(source)) {
  for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t, period] { run(t, period); });
}

void ScrapeLoad::run(int index, std::chrono::milliseconds period) {
  const bool gzip = index % 2 == 1;
  const std::string req =
      get_request("/metrics", gzip ? "Accept-Encoding: gzip\r\n" : "Accept-Encoding: identity\r\n");
  const auto t0 = Clock::now();
  for (int i = 1; !stop_; ++i) {
    const auto start = Clock::now();
    auto r = http_exchange(port_, req, source_, std::chrono::seconds(5));
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.latency_ms.push_back(ms);
      if (!r || r->status != 200) {
        ++stats_.failed;
      } else {
        ++stats_.answered;
        if (!gzip) stats_.last_body = std::move(r->body);
      }
    }
    std::this_thread::sleep_until(t0 + i * period);
  }
}

ScrapeStats ScrapeLoad::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace sanwatch::test
