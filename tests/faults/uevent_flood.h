// SPDX-License-Identifier: Apache-2.0
// Forged uevents at a chosen rate, in a network namespace of their own, and a
// count of the kernel's real uevents to compare with.
//
// The flood goes out two ways a root process has: multicast on group 1 from
// its own netlink port (nl_pid != 0), and sent to the kernel (port 0), which
// re-broadcasts it in the sender's namespace with portid 0 and uid 0, like a
// kernel uevent, but with the sender's pid in the credentials. Both stay in
// the namespace (the host's udev never sees them), where the agent under test
// runs; the kernel's own block uevents reach every namespace owned by the
// initial user namespace, that one included.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace sanwatch::test {

class UeventFlood {
 public:
  struct Stats {
    std::uint64_t multicast = 0;  // sent from our own port
    std::uint64_t relayed = 0;    // sent to the kernel, which re-broadcast them
    std::uint64_t failed = 0;     // sendto() errors
    double seconds = 0;
    std::uint64_t sent() const { return multicast + relayed; }
    double rate() const { return seconds > 0 ? static_cast<double>(sent()) / seconds : 0; }
  };

  // A fresh network namespace with its loopback up, and the flood's sockets
  // in it. `messages` are the forged datagrams, "ACTION@DEVPATH\0KEY=VAL\0..."
  // without SEQNUM (added per vector: by us, or by the kernel's relay).
  explicit UeventFlood(std::vector<std::string> messages);
  ~UeventFlood();
  UeventFlood(const UeventFlood&) = delete;
  UeventFlood& operator=(const UeventFlood&) = delete;

  // For `nsenter --net=<path>`: the namespace, held open by this object.
  std::string netns_path() const;

  // Sends at `per_second` (paced every millisecond, alternating vectors and
  // messages) from a thread of its own until stop().
  void start(double per_second);
  Stats stop();

 private:
  void run(double per_second);
  bool send_one(std::uint64_t i);

  std::vector<std::string> multicast_msgs_, relay_msgs_;
  UniqueFd netns_, multicast_, relay_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Stats stats_;
};

// Counts the kernel's own uevents (port 0, pid 0, uid 0) on a socket in the
// test's namespace, where no flood goes: what any listener could at most have
// accepted, and the devices' real changes among them.
class KernelUeventCounter {
 public:
  KernelUeventCounter();
  ~KernelUeventCounter();
  KernelUeventCounter(const KernelUeventCounter&) = delete;
  KernelUeventCounter& operator=(const KernelUeventCounter&) = delete;

  std::uint64_t count() const { return count_.load(); }
  // Those whose header names the device ("change@/devices/virtual/block/loop7").
  std::uint64_t count_for(const std::string& kernel_name) const;

 private:
  void run();

  UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> count_{0};
  mutable std::mutex mu_;
  std::vector<std::string> headers_;
  std::thread thread_;
};

}  // namespace sanwatch::test
