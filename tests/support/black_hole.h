// SPDX-License-Identifier: Apache-2.0
// A TCP server on 127.0.0.1:<port> that accepts every connection and then
// neither reads from it nor answers: what a client sees of a wedged server
// or a firewall that lets the handshake through. Connections stay open
// until the destructor closes them (and the port).
#pragma once

#include <atomic>
#include <thread>

namespace sanwatch::test {

class BlackHole {
 public:
  // Throws when the port cannot be had.
  explicit BlackHole(int port);
  ~BlackHole();
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;

  // Connections accepted so far: each is an attempt that got no answer.
  int accepted() const { return accepted_; }

 private:
  void loop();

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A loopback port free now and below the kernel's ephemeral range, so no
// outgoing connection or bind(port 0) on the machine takes it while a test
// has it closed (a fake server that goes down and comes back on it).
int quiet_loopback_port();

}  // namespace sanwatch::test
