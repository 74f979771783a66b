// SPDX-License-Identifier: Apache-2.0
// A minimal HTTP/1.1 server on 127.0.0.1 that stands in for Alertmanager:
// records each request's head, body and the CLOCK_MONOTONIC time its first
// byte arrived, and answers `status`. GET /-/ready (a sink's health check)
// is counted apart, not recorded, and answered `check_status`.
// On a given port (SO_REUSEADDR), a test can take a fake Alertmanager down
// and bring it back at the same URL.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sanwatch::test {

class HttpListener {
 public:
  struct Request {
    std::string head, body;
    std::uint64_t first_byte_ns = 0;  // CLOCK_MONOTONIC, an upper bound of the arrival
    int status = 0;                   // what it was answered
  };

  // Listens on `port` of 127.0.0.1 (0: an ephemeral one); throws when it cannot.
  explicit HttpListener(int port = 0);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_status(int s) { status_ = s; }
  void set_check_status(int s) { check_status_ = s; }
  int connections() const { return connections_; }
  int checks() const { return checks_; }
  std::vector<Request> requests() const;
  // Until `n` requests (health checks aside) were recorded, or the timeout.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  struct Conn {
    int fd;
    std::string buf;
    std::uint64_t first_ns = 0;
  };
  void loop();
  bool read_from(Conn& c, std::uint64_t now);
  void serve(Conn& c, std::uint64_t now);

  int fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<int> status_{200};
  std::atomic<int> check_status_{200};
  std::atomic<int> connections_{0};
  std::atomic<int> checks_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace sanwatch::test
