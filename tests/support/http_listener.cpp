// SPDX-License-Identifier: Apache-2.0
#include "http_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace sanwatch::test {
namespace {

std::uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

}  // namespace

HttpListener::HttpListener(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // Taking over a port whose previous listener left connections in TIME_WAIT.
  const int one = 1;
  if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t len = sizeof(a);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || listen(fd_, 16) ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) || pipe2(wake_, O_CLOEXEC)) {
    for (int fd : {fd_, wake_[0], wake_[1]})
      if (fd >= 0) close(fd);
    throw std::runtime_error("HTTP listener setup failed");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { loop(); });
}

HttpListener::~HttpListener() {
  [[maybe_unused]] auto n = write(wake_[1], "x", 1);
  thread_.join();
  for (int fd : {fd_, wake_[0], wake_[1]}) close(fd);
}

std::vector<HttpListener::Request> HttpListener::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

bool HttpListener::wait_for(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void HttpListener::loop() {
  std::vector<Conn> conns;
  for (;;) {
    std::vector<pollfd> p{{wake_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
    for (auto& c : conns) p.push_back({c.fd, POLLIN, 0});
    poll(p.data(), p.size(), -1);
    const std::uint64_t now = monotonic_now_ns();  // upper bound of the arrival
    if (p[0].revents) break;
    if (p[1].revents) {
      conns.push_back({accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC), "", 0});
      ++connections_;
    }
    for (std::size_t i = 0; i + 2 < p.size(); ++i)
      if (p[i + 2].revents && read_from(conns[i], now)) serve(conns[i], now);
    std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
  }
  for (auto& c : conns) close(c.fd);
}

// Appends what the peer sent; false (and the connection closed) at its end.
bool HttpListener::read_from(Conn& c, std::uint64_t now) {
  char buf[65536];
  const ssize_t n = read(c.fd, buf, sizeof(buf));
  if (n <= 0) {
    close(c.fd);
    c.fd = -1;
    return false;
  }
  if (c.buf.empty()) c.first_ns = now;
  c.buf.append(buf, n);
  return true;
}

// Answers every complete request in the buffer.
void HttpListener::serve(Conn& c, std::uint64_t now) {
  for (;;) {
    const auto end = c.buf.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string head = c.buf.substr(0, end);
    std::size_t length = 0;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (auto k = lower.find("content-length:"); k != std::string::npos)
      length = std::stoul(head.substr(k + 15));
    if (c.buf.size() < end + 4 + length) return;
    const bool check = head.rfind("GET /-/ready ", 0) == 0;
    const int status = check ? check_status_.load() : status_.load();
    if (check) {
      ++checks_;
    } else {
      std::lock_guard lock(mu_);
      requests_.push_back({head, c.buf.substr(end + 4, length), c.first_ns, status});
    }
    cv_.notify_all();
    c.buf.erase(0, end + 4 + length);
    c.first_ns = c.buf.empty() ? 0 : now;
    const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                              " X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nno";
    [[maybe_unused]] auto n = send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  }
}

}  // namespace sanwatch::test
