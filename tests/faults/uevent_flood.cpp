// SPDX-License-Identifier: Apache-2.0
#include "uevent_flood.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace sanwatch::test {
namespace {

constexpr std::uint32_t kKernelGroup = 1;

UniqueFd uevent_socket() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT));
  if (!fd.valid()) throw std::runtime_error("socket(NETLINK_KOBJECT_UEVENT) failed");
  return fd;
}

// The agent binds 127.0.0.1 for its metrics, which a new namespace only has
// once lo is up.
void loopback_up() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (!s.valid() || ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) throw std::runtime_error("lo flags");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) throw std::runtime_error("lo up");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

UeventFlood::UeventFlood(std::vector<std::string> messages) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    // Our own SEQNUMs on the multicast ones; the kernel appends its own to
    // what it relays, behind a netlink header it strips.
    multicast_msgs_.push_back(messages[i] + "SEQNUM=" + std::to_string(900000 + i) +
                              std::string(1, '\0'));
    std::string relay(NLMSG_HDRLEN, '\0');
    auto* nh = reinterpret_cast<nlmsghdr*>(relay.data());
    nh->nlmsg_len = static_cast<__u32>(NLMSG_HDRLEN + messages[i].size());
    nh->nlmsg_type = NLMSG_MIN_TYPE;
    nh->nlmsg_flags = NLM_F_REQUEST;
    relay_msgs_.push_back(relay + messages[i]);
  }
  // unshare() moves the calling thread only: a thread of its own makes the
  // namespace and the sockets, which stay in it; the fd keeps it alive.
  std::string error;
  std::thread([&] {
    try {
      if (unshare(CLONE_NEWNET) != 0) throw std::runtime_error("unshare(CLONE_NEWNET)");
      loopback_up();
      netns_ = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
      if (!netns_.valid()) throw std::runtime_error("open /proc/thread-self/ns/net");
      multicast_ = uevent_socket();
      relay_ = uevent_socket();
    } catch (const std::exception& e) {
      error = std::string(e.what()) + ": " + std::strerror(errno);
    }
  }).join();
  if (!error.empty()) throw std::runtime_error("uevent flood: " + error);
}

UeventFlood::~UeventFlood() {
  if (thread_.joinable()) stop();
}

std::string UeventFlood::netns_path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(netns_.get());
}

void UeventFlood::start(double per_second) {
  stop_ = false;
  stats_ = {};
  thread_ = std::thread([this, per_second] { run(per_second); });
}

UeventFlood::Stats UeventFlood::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return stats_;
}

bool UeventFlood::send_one(std::uint64_t i) {
  const bool relay = i % 2 == 1;
  const auto& msgs = relay ? relay_msgs_ : multicast_msgs_;
  const std::string& m = msgs[(i / 2) % msgs.size()];
  sockaddr_nl dst{};
  dst.nl_family = AF_NETLINK;
  dst.nl_groups = relay ? 0 : kKernelGroup;  // relay: port 0, the kernel
  const ssize_t n = ::sendto(relay ? relay_.get() : multicast_.get(), m.data(), m.size(), 0,
                             reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
  if (n != static_cast<ssize_t>(m.size())) return false;
  ++(relay ? stats_.relayed : stats_.multicast);
  return true;
}

// Paced against the clock: each millisecond sends what the rate owes so far,
// so a descheduled sender catches up instead of losing the rate.
void UeventFlood::run(double per_second) {
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t i = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    const auto owed = static_cast<std::uint64_t>(seconds_since(t0) * per_second);
    for (; i < owed && !stop_.load(std::memory_order_relaxed); ++i)
      if (!send_one(i)) ++stats_.failed;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stats_.seconds = seconds_since(t0);
}

KernelUeventCounter::KernelUeventCounter() : fd_(uevent_socket()) {
  const int big = 16 << 20;
  setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  const int one = 1;
  setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = kKernelGroup;
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("uevent counter: bind");
  thread_ = std::thread([this] { run(); });
}

KernelUeventCounter::~KernelUeventCounter() {
  stop_ = true;
  thread_.join();
}

std::uint64_t KernelUeventCounter::count_for(const std::string& kernel_name) const {
  const std::string suffix = "/block/" + kernel_name;
  std::lock_guard lock(mu_);
  std::uint64_t n = 0;
  for (const auto& h : headers_)
    n += h.size() >= suffix.size() &&
         h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0;
  return n;
}

void KernelUeventCounter::run() {
  std::vector<char> buf(8192);
  while (!stop_) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    sockaddr_nl from{};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf.data(), buf.size() - 1};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_.get(), &mh, MSG_DONTWAIT);
    if (n <= 0) continue;
    const cmsghdr* c = CMSG_FIRSTHDR(&mh);
    const auto* cred = c && c->cmsg_type == SCM_CREDENTIALS
                           ? reinterpret_cast<const ucred*>(CMSG_DATA(c))
                           : nullptr;
    if (from.nl_pid != 0 || !cred || cred->pid != 0 || cred->uid != 0) continue;
    buf[static_cast<std::size_t>(n)] = '\0';
    ++count_;
    std::lock_guard lock(mu_);
    headers_.emplace_back(buf.data());  // up to the first NUL: ACTION@DEVPATH
  }
}

}  // namespace sanwatch::test
