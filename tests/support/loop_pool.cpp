// SPDX-License-Identifier: Apache-2.0
#include "loop_pool.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace sanwatch::test {
namespace {

std::string sys_block(unsigned n) { return "/sys/block/loop" + std::to_string(n); }

std::string dev_node(unsigned n) { return "/dev/loop" + std::to_string(n); }

constexpr const char* kBackingPrefix = "/dev/shm/sanwatch-loop-pool-";

bool bound(unsigned n) { return access((sys_block(n) + "/loop/backing_file").c_str(), F_OK) == 0; }

// Bound to a pool's backing file: ours, its detach deferred by the kernel
// to the last close (LO_FLAGS_AUTOCLEAR) while someone holds it open.
bool bound_to_pool(unsigned n) {
  std::ifstream f(sys_block(n) + "/loop/backing_file");
  std::string path;
  return std::getline(f, path) && path.rfind(kBackingPrefix, 0) == 0;
}

// The node devtmpfs makes for a new device; made by hand where /dev is not
// devtmpfs. False when the device has no node and none could be made.
bool ensure_node(unsigned n, bool* made) {
  *made = false;
  if (access(dev_node(n).c_str(), F_OK) == 0) return true;
  unsigned maj = 0, min = 0;
  std::ifstream f(sys_block(n) + "/dev");
  char colon = 0;
  if (!(f >> maj >> colon >> min)) return false;
  if (mknod(dev_node(n).c_str(), S_IFBLK | 0660, makedev(maj, min)) != 0 && errno != EEXIST)
    return false;
  *made = true;
  return true;
}

// One loop ioctl on /dev/loopN, opened for just that; 0 or the errno.
int loop_ioctl(unsigned n, unsigned long request, const void* arg) {
  const int fd = open(dev_node(n).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ioctl(fd, request, arg);
  const int err = rc < 0 ? errno : 0;
  close(fd);
  return err;
}

}  // namespace

LoopPool::LoopPool(unsigned first, unsigned count, std::uint64_t backing_bytes) {
  control_ = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (control_ < 0) throw std::runtime_error("/dev/loop-control: " + std::string(strerror(errno)));
  std::string path = std::string(kBackingPrefix) + "XXXXXX";
  backing_ = mkostemp(path.data(), O_CLOEXEC);
  if (backing_ < 0 || ftruncate(backing_, static_cast<off_t>(backing_bytes)) != 0) {
    const std::string why = strerror(errno);
    if (backing_ >= 0) unlink(path.c_str());
    remove_all(0);
    throw std::runtime_error("backing file on /dev/shm: " + why);
  }
  unlink(path.c_str());  // the loop devices hold the file; nothing is left behind
  try {
    for (unsigned i = 0; i < count; ++i) add(first + i);
  } catch (...) {
    remove_all(0);
    throw;
  }
}

void LoopPool::add(unsigned number) {
  Device d{number, false, false};
  if (ioctl(control_, LOOP_CTL_ADD, number) < 0) {
    if (errno != EEXIST)
      throw std::runtime_error("LOOP_CTL_ADD " + std::to_string(number) + ": " + strerror(errno));
    // A leftover of an earlier run is ours to use; a bound one is not.
    if (bound(number)) {
      devices_.push_back(d);
      return;
    }
  }
  if (!ensure_node(number, &d.node_made)) {
    ioctl(control_, LOOP_CTL_REMOVE, number);
    throw std::runtime_error("no device node for loop" + std::to_string(number));
  }
  d.owned = true;
  devices_.push_back(d);
}

LoopPool::~LoopPool() {
  remove_all();
  if (backing_ >= 0) close(backing_);
  if (control_ >= 0) close(control_);
}

std::string LoopPool::name(unsigned i) const { return "loop" + std::to_string(devices_[i].number); }

int LoopPool::attach(unsigned i) {
  Device& d = devices_[i];
  if (!d.owned) return EBUSY;
  loop_config cfg{};
  cfg.fd = static_cast<__u32>(backing_);
  const int err = loop_ioctl(d.number, LOOP_CONFIGURE, &cfg);
  // EBUSY: still bound to our file (a detach the kernel deferred to the
  // last close) and worth another try, or another test's losetup -f took it.
  if (err == EBUSY && !bound_to_pool(d.number)) d.owned = false;
  d.attached = err == 0;
  return err;
}

int LoopPool::detach(unsigned i) {
  Device& d = devices_[i];
  if (!d.owned || !d.attached) return d.owned ? ENXIO : EBUSY;
  const int err = loop_ioctl(d.number, LOOP_CLR_FD, nullptr);
  if (err == 0) d.attached = false;
  return err;
}

std::uint64_t LoopPool::sectors(unsigned i) const {
  std::ifstream f(sys_block(devices_[i].number) + "/size");
  std::uint64_t n = 0;
  f >> n;
  return n;
}

unsigned LoopPool::remove_all(unsigned timeout_ms) noexcept {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  unsigned left = 0;
  if (control_ < 0) return 0;
  for (;;) {
    left = 0;
    for (Device& d : devices_) {
      if (!d.owned) continue;
      if (d.attached && loop_ioctl(d.number, LOOP_CLR_FD, nullptr) == 0) d.attached = false;
      if (!d.attached && bound(d.number) && !bound_to_pool(d.number)) {
        d.owned = false;  // bound by someone else since our detach: theirs now
        continue;
      }
      if (ioctl(control_, LOOP_CTL_REMOVE, d.number) == 0 || errno == ENODEV) {
        if (d.node_made) unlink(dev_node(d.number).c_str());
        d.owned = false;
      } else {
        ++left;  // EBUSY: held open (a canary read) or still bound
      }
    }
    if (!left || std::chrono::steady_clock::now() >= end) return left;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sanwatch::test
