// SPDX-License-Identifier: Apache-2.0
// LoopPool: loop devices with fixed numbers (/dev/loop<first> ...) that a
// test attaches and detaches at will through the loop ioctls
// (LOOP_CONFIGURE, LOOP_CLR_FD): thousands of times a minute, where losetup
// would fork each time. All share one sparse backing file on /dev/shm,
// unlinked at once (nothing to clean up if the test dies).
//
// Other tests on the machine attach with `losetup -f` (LOOP_CTL_GET_FREE),
// which hands out the lowest unbound device, and that may be one of ours
// while it is detached: attach() then fails with EBUSY and the device is
// given up (owned() false) and left alone from then on.
//
// The destructor detaches and removes (LOOP_CTL_REMOVE) every device the
// pool still owns, retrying for a bounded time while something (the agent's
// canary read) keeps one open.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sanwatch::test {

class LoopPool {
 public:
  // Creates (or adopts, if it exists unbound) /dev/loop<first> ...
  // /dev/loop<first+count-1>; throws std::runtime_error, after undoing its
  // own work, when the loop driver refuses.
  LoopPool(unsigned first, unsigned count, std::uint64_t backing_bytes = 4 << 20);
  ~LoopPool();
  LoopPool(const LoopPool&) = delete;
  LoopPool& operator=(const LoopPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(devices_.size()); }
  std::string name(unsigned i) const;  // "loop1000"
  bool owned(unsigned i) const { return devices_[i].owned; }
  // 0 on success, else the errno. EBUSY: still bound (our deferred detach:
  // try again later), or bound by someone else (given up: owned() false).
  int attach(unsigned i);
  // 0 on success (the kernel may defer the detach to the last close of a
  // device someone holds open), else the errno.
  int detach(unsigned i);
  // Size in sectors as sysfs says (0: detached).
  std::uint64_t sectors(unsigned i) const;
  // Detaches and removes every owned device; waits up to `timeout_ms` for
  // devices held open. Returns how many could not be removed.
  unsigned remove_all(unsigned timeout_ms = 5000) noexcept;

 private:
  struct Device {
    unsigned number = 0;
    bool owned = false;
    bool node_made = false;  // we created /dev/loopN
    bool attached = false;   // by us: only then is a detach ours to do
  };
  void add(unsigned number);

  int control_ = -1;  // /dev/loop-control
  int backing_ = -1;
  std::vector<Device> devices_;
};

}  // namespace sanwatch::test
