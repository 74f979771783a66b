// SPDX-License-Identifier: Apache-2.0
#include "black_hole.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace sanwatch::test {
namespace {

int listen_on(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;  // the port's last server may have left TIME_WAIT behind
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || listen(fd, 64)) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

BlackHole::BlackHole(int port) : fd_(listen_on(port)) {
  if (fd_ < 0 || pipe2(wake_, O_CLOEXEC)) {
    if (fd_ >= 0) close(fd_);
    throw std::runtime_error("black hole: cannot listen on port " + std::to_string(port));
  }
  thread_ = std::thread([this] { loop(); });
}

BlackHole::~BlackHole() {
  [[maybe_unused]] auto n = write(wake_[1], "x", 1);
  thread_.join();
  for (int fd : {fd_, wake_[0], wake_[1]}) close(fd);
}

void BlackHole::loop() {
  std::vector<int> held;  // never read: the peer's request sits in our buffer
  for (;;) {
    pollfd p[2] = {{wake_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
    poll(p, 2, -1);
    if (p[0].revents) break;
    if (const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC); c >= 0) {
      held.push_back(c);
      ++accepted_;
    }
  }
  for (int c : held) close(c);
}

int quiet_loopback_port() {
  int low = 32768, high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
  const int first = 10000, span = std::max(1, low - first);
  // Parallel runs start at different ports (by pid), then walk on.
  for (int i = 0; i < 500; ++i) {
    const int port = first + (static_cast<int>(getpid()) * 7919 + i) % span;
    if (const int fd = listen_on(port); fd >= 0) {
      close(fd);
      return port;
    }
  }
  throw std::runtime_error("no free loopback port below the ephemeral range");
}

}  // namespace sanwatch::test
