// SPDX-License-Identifier: Apache-2.0
#include "host/uevent.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/loop.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "base/clock.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "privileged.h"

using namespace sanwatch;

namespace {

// A capture as the facts file prints it (fields separated by spaces) back
// into the wire format: NUL after the header and after every field.
std::string from_capture(std::string_view line) {
  std::string s(line);
  for (char& c : s)
    if (c == ' ') c = '\0';
  s.push_back('\0');
  return s;
}

std::string wire(std::initializer_list<std::string_view> fields) {
  std::string s;
  for (auto f : fields) {
    s.append(f);
    s.push_back('\0');
  }
  return s;
}

// The first capture from block-layer-facts.md, verbatim.
constexpr std::string_view kPathFailed =
    "change@/devices/virtual/block/dm-0 ACTION=change DEVPATH=/devices/virtual/block/dm-0 "
    "SUBSYSTEM=block DM_TARGET=multipath DM_ACTION=PATH_FAILED DM_SEQNUM=1 DM_PATH=8:16 "
    "DM_NR_VALID_PATHS=1 DM_NAME=mpatha DM_UUID=mpath-333333330000007d0 MAJOR=254 MINOR=0 "
    "DEVNAME=dm-0 DEVTYPE=disk DISKSEQ=3 SEQNUM=658";
// The second capture elides the common keys ("..."); they are filled in as in
// the first, with the SEQNUM that follows.
constexpr std::string_view kPathReinstated =
    "change@/devices/virtual/block/dm-0 ACTION=change DEVPATH=/devices/virtual/block/dm-0 "
    "SUBSYSTEM=block DM_TARGET=multipath DM_ACTION=PATH_REINSTATED DM_SEQNUM=2 DM_PATH=8:16 "
    "DM_NR_VALID_PATHS=2 DM_NAME=mpatha DM_UUID=mpath-333333330000007d0 MAJOR=254 MINOR=0 "
    "DEVNAME=dm-0 DEVTYPE=disk DISKSEQ=3 SEQNUM=659";

// A valid block `change` to mutate in the hostile cases.
const std::string kHeader = "change@/devices/virtual/block/dm-0";
std::string dm_event(std::initializer_list<std::string_view> extra) {
  std::string s = wire({kHeader, "ACTION=change", "DEVPATH=/devices/virtual/block/dm-0",
                        "SUBSYSTEM=block", "SEQNUM=42"});
  for (auto f : extra) {
    s.append(f);
    s.push_back('\0');
  }
  return s;
}

UeventDrop drop_reason(const std::string& msg) {
  UeventDrop why = UeventDrop::kCount;
  auto ev = parse_uevent(msg, &why);
  CHECK_FALSE(ev.has_value());
  return why;
}

std::uint64_t drops(const UeventCounters& c, UeventDrop r) {
  return c.dropped[static_cast<std::size_t>(r)];
}

}  // namespace

TEST_CASE("real dm-multipath PATH_FAILED capture parses to the right fields") {
  const std::string msg = from_capture(kPathFailed);
  auto ev = parse_uevent(msg);
  REQUIRE(ev.has_value());
  CHECK(ev->action == "change");
  CHECK(ev->devpath == "/devices/virtual/block/dm-0");
  CHECK(ev->subsystem == "block");
  CHECK(ev->devname == "dm-0");
  CHECK(ev->devtype == "disk");
  REQUIRE(ev->dev.has_value());
  CHECK(*ev->dev == DevId{254, 0});
  CHECK(ev->seqnum == 658);
  CHECK(ev->get("DISKSEQ") == "3");
  CHECK(ev->env.size() == 16);
  REQUIRE(ev->dm.has_value());
  CHECK(ev->dm->action == DmPathAction::kPathFailed);
  CHECK(ev->dm->action_name == "PATH_FAILED");
  CHECK(ev->dm->target == "multipath");
  CHECK(ev->dm->path == DevId{8, 16});
  CHECK(ev->dm->nr_valid_paths == 1);
  CHECK(ev->dm->name == "mpatha");
  CHECK(ev->dm->uuid == "mpath-333333330000007d0");
  CHECK(ev->dm->seqnum == std::optional<std::uint64_t>(1));
}

TEST_CASE("real dm-multipath PATH_REINSTATED capture parses") {
  auto ev = parse_uevent(from_capture(kPathReinstated));
  REQUIRE(ev.has_value());
  REQUIRE(ev->dm.has_value());
  CHECK(ev->dm->action == DmPathAction::kPathReinstated);
  CHECK(ev->dm->path == DevId{8, 16});
  CHECK(ev->dm->nr_valid_paths == 2);
  CHECK(ev->dm->seqnum == std::optional<std::uint64_t>(2));
}

TEST_CASE("SCSI unit attention and media change uevents (scsi_evt_emit)") {
  // What drivers/scsi/scsi_lib.c scsi_evt_emit() sends: a `change` on the
  // scsi_device with one SDEV_* key; the common keys come from dev_uevent.
  // The watchdog rescans on any of them (subsystem scsi, action change).
  const std::string path = "/devices/platform/host2/session1/target2:0:0/2:0:0:1";
  auto ua =
      parse_uevent(wire({"change@" + path, "ACTION=change", "DEVPATH=" + path, "SUBSYSTEM=scsi",
                         "DEVTYPE=scsi_device", "DRIVER=sd", "MODALIAS=scsi:t-0x00",
                         "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED", "SEQNUM=700"}));
  REQUIRE(ua.has_value());
  CHECK(ua->subsystem == "scsi");
  CHECK(ua->action == "change");
  CHECK(ua->get("SDEV_UA") == "ASYMMETRIC_ACCESS_STATE_CHANGED");
  CHECK_FALSE(ua->dm.has_value());
  CHECK_FALSE(ua->dev.has_value());
  REQUIRE(ua->scsi_ua.has_value());
  CHECK(ua->scsi_ua->alua());
  CHECK(ua->scsi_ua->hctl == "2:0:0:1");

  auto media =
      parse_uevent(wire({"change@" + path, "ACTION=change", "DEVPATH=" + path, "SUBSYSTEM=scsi",
                         "DEVTYPE=scsi_device", "SDEV_MEDIA_CHANGE=1", "SEQNUM=701"}));
  REQUIRE(media.has_value());
  CHECK(media->has("SDEV_MEDIA_CHANGE", "1"));
  CHECK_FALSE(media->get("SDEV_UA").has_value());
  CHECK_FALSE(media->scsi_ua.has_value());
}

TEST_CASE("lab capture: the ALUA unit attention of an iSCSI path (LIO target, 6.1)") {
  auto ev = parse_uevent(
      from_capture("change@/devices/platform/host1/session2/target1:0:0/1:0:0:0 ACTION=change "
                   "DEVPATH=/devices/platform/host1/session2/target1:0:0/1:0:0:0 SUBSYSTEM=scsi "
                   "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED DEVTYPE=scsi_device DRIVER=sd "
                   "MODALIAS=scsi:t-0x00 SEQNUM=2311"));
  REQUIRE(ev.has_value());
  REQUIRE(ev->scsi_ua.has_value());
  CHECK(ev->scsi_ua->what == "ASYMMETRIC_ACCESS_STATE_CHANGED");
  CHECK(ev->scsi_ua->hctl == "1:0:0:0");
  // Another unit attention is kept, not an ALUA one.
  auto cap = parse_uevent(
      from_capture("change@/devices/platform/host1/session2/target1:0:0/1:0:0:0 ACTION=change "
                   "DEVPATH=/devices/platform/host1/session2/target1:0:0/1:0:0:0 SUBSYSTEM=scsi "
                   "SDEV_UA=CAPACITY_DATA_HAS_CHANGED SEQNUM=2312"));
  REQUIRE(cap.has_value());
  CHECK_FALSE(cap->scsi_ua->alua());
}

TEST_CASE("SDEV_UA is validated: a SCSI device's change, an upper-case name") {
  const std::string sdev = "/devices/platform/host2/session1/target2:0:0/2:0:0:1";
  const auto drop = [](std::initializer_list<std::string_view> fields) {
    UeventDrop why = UeventDrop::kCount;
    CHECK_FALSE(parse_uevent(wire(fields), &why).has_value());
    return why;
  };
  // Not a scsi_device: a block device, an add, a host.
  CHECK(drop({"change@/devices/virtual/block/dm-0", "ACTION=change",
              "DEVPATH=/devices/virtual/block/dm-0", "SUBSYSTEM=block",
              "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED", "SEQNUM=1"}) ==
        UeventDrop::kBadUnitAttention);
  CHECK(drop({"add@" + sdev, "ACTION=add", "DEVPATH=" + sdev, "SUBSYSTEM=scsi",
              "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED", "SEQNUM=1"}) ==
        UeventDrop::kBadUnitAttention);
  const std::string host = "/devices/platform/host2";
  CHECK(drop({"change@" + host, "ACTION=change", "DEVPATH=" + host, "SUBSYSTEM=scsi",
              "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED", "SEQNUM=1"}) ==
        UeventDrop::kBadUnitAttention);
  for (const char* bad : {"SDEV_UA=", "SDEV_UA=asymmetric", "SDEV_UA=A B", "SDEV_UA=../../x"})
    CHECK(drop({"change@" + sdev, "ACTION=change", "DEVPATH=" + sdev, "SUBSYSTEM=scsi", bad,
                "SEQNUM=1"}) == UeventDrop::kBadUnitAttention);
  for (const std::string path :
       {"/devices/x/2:0:0", "/devices/x/2:0:0:1:5", "/devices/x/a:0:0:1", "/devices/x/2::0:1"})
    CHECK(drop({"change@" + path, "ACTION=change", "DEVPATH=" + path, "SUBSYSTEM=scsi",
                "SDEV_UA=ASYMMETRIC_ACCESS_STATE_CHANGED", "SEQNUM=1"}) ==
          UeventDrop::kBadUnitAttention);
}

TEST_CASE("block add, remove and resize uevents") {
  const std::string path = "/devices/virtual/block/loop3";
  auto add = parse_uevent(
      wire({"add@" + path, "ACTION=add", "DEVPATH=" + path, "SUBSYSTEM=block", "MAJOR=7", "MINOR=3",
            "DEVNAME=loop3", "DEVTYPE=disk", "DISKSEQ=12", "SEQNUM=900"}));
  REQUIRE(add.has_value());
  CHECK(add->action == "add");
  CHECK(add->dev == std::optional<DevId>(DevId{7, 3}));
  CHECK(add->devname == "loop3");
  auto rm =
      parse_uevent(wire({"remove@" + path, "ACTION=remove", "DEVPATH=" + path, "SUBSYSTEM=block",
                         "MAJOR=7", "MINOR=3", "DEVNAME=loop3", "DEVTYPE=disk", "SEQNUM=901"}));
  REQUIRE(rm.has_value());
  CHECK(rm->action == "remove");
  auto resize = parse_uevent(wire({"change@" + path, "ACTION=change", "DEVPATH=" + path,
                                   "SUBSYSTEM=block", "RESIZE=1", "SEQNUM=902"}));
  REQUIRE(resize.has_value());
  CHECK(resize->resized());
  CHECK_FALSE(add->resized());
}

TEST_CASE("unknown DM_ACTION is kept, with its path") {
  auto ev = parse_uevent(
      dm_event({"DM_ACTION=SOMETHING_NEW", "DM_PATH=8:0", "DM_NR_VALID_PATHS=0", "DM_UUID="}));
  REQUIRE(ev.has_value());
  REQUIRE(ev->dm.has_value());
  CHECK(ev->dm->action == DmPathAction::kOther);
  CHECK(ev->dm->uuid.empty());
  CHECK_FALSE(ev->dm->seqnum.has_value());
}

TEST_CASE("malformed framing is dropped with the right reason") {
  CHECK(drop_reason(std::string(kUeventMaxBytes + 1, 'a')) == UeventDrop::kOversized);
  CHECK(drop_reason(std::string("libudev\0\xfe\xed\xca\xfe", 12) + "rest") == UeventDrop::kLibudev);
  CHECK(drop_reason("") == UeventDrop::kTruncated);
  std::string no_nul = dm_event({});
  no_nul.pop_back();
  CHECK(drop_reason(no_nul) == UeventDrop::kTruncated);
  CHECK(drop_reason(wire({"change/devices/x", "ACTION=change"})) == UeventDrop::kBadHeader);
  CHECK(drop_reason(wire({"@/devices/x"})) == UeventDrop::kBadHeader);
  CHECK(drop_reason(wire({"change@"})) == UeventDrop::kBadHeader);
  CHECK(drop_reason(wire({"change@devices/x"})) == UeventDrop::kBadHeader);
}

TEST_CASE("malformed fields are dropped with the right reason") {
  CHECK(drop_reason(dm_event({"NOEQUALS"})) == UeventDrop::kBadKey);
  CHECK(drop_reason(dm_event({"=value"})) == UeventDrop::kBadKey);
  CHECK(drop_reason(dm_event({"DM-PATH=8:0"})) == UeventDrop::kBadKey);
  CHECK(drop_reason(dm_event({""})) == UeventDrop::kBadKey);  // two NULs in a row
  CHECK(drop_reason(dm_event({"SEQNUM=43"})) == UeventDrop::kDuplicateKey);
  CHECK(drop_reason(dm_event({"DM_NAME=a", "DM_NAME=b"})) == UeventDrop::kDuplicateKey);

  std::vector<std::string> many;
  for (std::size_t i = 0; i < kUeventMaxKeys; ++i) many.push_back(fmt::format("K{}=1", i));
  std::string msg = dm_event({});
  for (const auto& k : many) msg += k + '\0';
  CHECK(drop_reason(msg) == UeventDrop::kTooManyKeys);
}

TEST_CASE("header and required keys are cross-checked") {
  CHECK(drop_reason(wire({kHeader, "ACTION=change", "DEVPATH=/devices/virtual/block/dm-1",
                          "SUBSYSTEM=block", "SEQNUM=1"})) == UeventDrop::kHeaderMismatch);
  CHECK(drop_reason(wire({kHeader, "ACTION=remove", "DEVPATH=/devices/virtual/block/dm-0",
                          "SUBSYSTEM=block", "SEQNUM=1"})) == UeventDrop::kHeaderMismatch);
  CHECK(drop_reason(wire({kHeader, "ACTION=change", "DEVPATH=/devices/virtual/block/dm-0",
                          "SUBSYSTEM=block"})) == UeventDrop::kMissingKey);
  CHECK(drop_reason(wire({kHeader, "DEVPATH=/devices/virtual/block/dm-0", "SUBSYSTEM=block",
                          "SEQNUM=1"})) == UeventDrop::kMissingKey);
  CHECK(drop_reason(wire({kHeader, "ACTION=change", "DEVPATH=/devices/virtual/block/dm-0",
                          "SUBSYSTEM=block", "SEQNUM=1x"})) == UeventDrop::kBadNumber);
  CHECK(drop_reason(dm_event({"MAJOR=254"})) == UeventDrop::kMissingKey);
  CHECK(drop_reason(dm_event({"MAJOR=254", "MINOR=abc"})) == UeventDrop::kBadDevNumber);
  CHECK(drop_reason(dm_event({"MAJOR=4096", "MINOR=0"})) == UeventDrop::kBadDevNumber);
}

TEST_CASE("dm-multipath keys are validated, never trusted") {
  SECTION("DM_ACTION without DM_PATH or count") {
    CHECK(drop_reason(dm_event({"DM_ACTION=PATH_FAILED", "DM_NR_VALID_PATHS=1"})) ==
          UeventDrop::kMissingKey);
    CHECK(drop_reason(dm_event({"DM_ACTION=PATH_FAILED", "DM_PATH=8:16"})) ==
          UeventDrop::kMissingKey);
  }
  SECTION("DM_PATH not maj:min") {
    for (const char* bad : {"DM_PATH=sdb", "DM_PATH=8-16", "DM_PATH=8:", "DM_PATH=:16",
                            "DM_PATH=8:16x", "DM_PATH=+8:16", "DM_PATH= 8:16", "DM_PATH=-8:16",
                            "DM_PATH=8:1048576", "DM_PATH=99999999999:1", "DM_PATH="}) {
      INFO(bad);
      CHECK(drop_reason(dm_event({"DM_ACTION=PATH_FAILED", bad, "DM_NR_VALID_PATHS=1"})) ==
            UeventDrop::kBadDevNumber);
    }
  }
  SECTION("DM_NR_VALID_PATHS / DM_SEQNUM not a sane number") {
    for (const char* bad : {"DM_NR_VALID_PATHS=two", "DM_NR_VALID_PATHS=-1", "DM_NR_VALID_PATHS=",
                            "DM_NR_VALID_PATHS=1e3", "DM_NR_VALID_PATHS=99999999999999999999999",
                            "DM_NR_VALID_PATHS=5000"}) {
      INFO(bad);
      CHECK(drop_reason(dm_event({"DM_ACTION=PATH_FAILED", "DM_PATH=8:16", bad})) ==
            UeventDrop::kBadNumber);
    }
    CHECK(drop_reason(dm_event({"DM_ACTION=PATH_FAILED", "DM_PATH=8:16", "DM_NR_VALID_PATHS=1",
                                "DM_SEQNUM=x"})) == UeventDrop::kBadNumber);
  }
}

TEST_CASE("only the kernel is a trusted sender") {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ucred root{0, 0, 0};
  CHECK_FALSE(check_uevent_sender(kernel, &root).has_value());

  sockaddr_nl process = kernel;
  process.nl_pid = 4242;
  CHECK(check_uevent_sender(process, &root) == UeventDrop::kNotKernel);
  CHECK(check_uevent_sender(kernel, nullptr) == UeventDrop::kNoCredentials);
  ucred user{0, 1000, 1000};
  CHECK(check_uevent_sender(kernel, &user) == UeventDrop::kNoCredentials);
  // Port 0 and root, but a process's pid: relayed by the kernel for a process.
  ucred relayed{4242, 0, 0};
  CHECK(check_uevent_sender(kernel, &relayed) == UeventDrop::kRelayed);
}

TEST_CASE("every drop reason has a metric label of its own") {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < static_cast<std::size_t>(UeventDrop::kCount); ++i)
    names.insert(uevent_drop_name(static_cast<UeventDrop>(i)));
  CHECK(names.size() == static_cast<std::size_t>(UeventDrop::kCount));
  CHECK(names.count("unknown") == 0);
}

TEST_CASE("drop reasons are counted separately") {
  UeventCounters c;
  for (std::size_t i = 0; i < static_cast<std::size_t>(UeventDrop::kCount); ++i)
    for (std::size_t n = 0; n <= i; ++n) c.drop(static_cast<UeventDrop>(i));
  CHECK(drops(c, UeventDrop::kNotKernel) == 1);
  CHECK(drops(c, UeventDrop::kBadNumber) == static_cast<std::size_t>(UeventDrop::kBadNumber) + 1);
  const std::size_t k = static_cast<std::size_t>(UeventDrop::kCount);
  CHECK(c.dropped_total() == k * (k + 1) / 2);
}

// --- the real socket ------------------------------------------------------

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::uint32_t port_of(int fd) {
  sockaddr_nl a{};
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return a.nl_pid;
}

// Polls and drains until pred accepts an event or the timeout passes; ORs
// the resync flags of every drain into *resync.
bool drain_until(UeventListener& l, milliseconds timeout,
                 const std::function<bool(const Uevent&)>& pred, bool* resync = nullptr) {
  const auto deadline = Clock::now() + timeout;
  bool found = false;
  while (!found) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{l.fd(), POLLIN, 0};
    REQUIRE(poll(&p, 1, static_cast<int>(left.count())) >= 0);
    auto r = l.drain([&](const Uevent& e) { found = found || pred(e); });
    REQUIRE(r.ok());
    if (resync) *resync = *resync || r->resync_needed;
  }
  return true;
}

std::string random_uuid() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string u;
  for (int len : {8, 4, 4, 4, 12}) {
    if (!u.empty()) u += '-';
    for (int i = 0; i < len; ++i) u += "0123456789abcdef"[hex(rd)];
  }
  return u;
}

// A loop device over an already-unlinked file in /dev/shm: nothing is left
// behind even if the test dies (LO_FLAGS_AUTOCLEAR detaches on last close).
class ScratchLoop {
 public:
  ScratchLoop() {
    char path[] = "/dev/shm/sanwatch-uevent-XXXXXX";
    UniqueFd backing(mkstemp(path));
    REQUIRE(backing.valid());
    unlink(path);
    REQUIRE(ftruncate(backing.get(), 1 << 20) == 0);
    UniqueFd ctl(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    REQUIRE(ctl.valid());
    for (int attempt = 0; attempt < 10 && !loop_.valid(); ++attempt) {
      const int n = ioctl(ctl.get(), LOOP_CTL_GET_FREE);
      REQUIRE(n >= 0);
      UniqueFd fd(open(("/dev/loop" + std::to_string(n)).c_str(), O_RDWR | O_CLOEXEC));
      loop_config cfg{};
      cfg.fd = static_cast<__u32>(backing.get());
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
      // EBUSY: another process took the device between GET_FREE and here.
      if (fd.valid() && ioctl(fd.get(), LOOP_CONFIGURE, &cfg) == 0) {
        loop_ = std::move(fd);
        name_ = "loop" + std::to_string(n);
      }
    }
    REQUIRE(loop_.valid());
  }
  ~ScratchLoop() {
    ioctl(loop_.get(), LOOP_CLR_FD);
    loop_.reset();
  }
  const std::string& name() const { return name_; }

  // Writes to /sys/block/<name>/uevent: the kernel emits a synthetic uevent.
  void trigger(const std::string& text) const {
    UniqueFd f(open(("/sys/block/" + name_ + "/uevent").c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(f.valid());
    REQUIRE(write(f.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }

 private:
  UniqueFd loop_;
  std::string name_;
};

}  // namespace

TEST_CASE("listener drops a uevent forged by a process (unicast to its port, needs root)") {
  // A process with CAP_NET_ADMIN can unicast to a uevent socket's port (the
  // udev spoofing hole, CVE-2009-1185); without it sendto() fails with EPERM.
  // nl_pid != 0 gives the forgery away.
  test::require_privileged(
      "the forged-uevent test (CAP_NET_ADMIN to send on NETLINK_KOBJECT_UEVENT)");
  auto l = UeventListener::open();
  REQUIRE(l.ok());
  UniqueFd s(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT));
  REQUIRE(s.valid());
  sockaddr_nl dst{};
  dst.nl_family = AF_NETLINK;
  dst.nl_pid = port_of(l->fd());
  const std::string forged = from_capture(kPathFailed);
  REQUIRE(sendto(s.get(), forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&dst),
                 sizeof dst) == static_cast<ssize_t>(forged.size()));
  bool accepted = false;
  auto r = l->drain([&](const Uevent& e) { accepted = accepted || e.seqnum == 658; });
  REQUIRE(r.ok());
  CHECK_FALSE(accepted);
  CHECK(r->dropped >= 1);
  CHECK(drops(l->counters(), UeventDrop::kNotKernel) >= 1);
}

TEST_CASE("listener drops a uevent a process had the kernel relay (port 0, needs root)") {
  // A root process may send a uevent to the kernel (port 0): uevent_net_rcv
  // re-broadcasts it on group 1 of the sender's network namespace with
  // portid 0 and uid 0, like a kernel uevent, but with the sender's pid in
  // the credentials. Both sockets live in a fresh network namespace, so the
  // host's udev never sees the forgery.
  test::require_privileged("the relayed-uevent test (CAP_SYS_ADMIN, a network namespace)");
  std::optional<Result<UeventListener>> l;
  UniqueFd s;
  std::thread([&] {  // unshare() moves this thread only; the sockets keep the netns
    if (unshare(CLONE_NEWNET) != 0) return;
    l.emplace(UeventListener::open());
    s = UniqueFd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT));
  })
      .join();
  REQUIRE(l.has_value());
  REQUIRE(l->ok());
  REQUIRE(s.valid());
  // The kernel appends SEQNUM itself; the capture without its own.
  std::string body = from_capture(kPathFailed);
  body.resize(body.rfind("SEQNUM="));
  std::string msg(NLMSG_HDRLEN, '\0');
  auto* nh = reinterpret_cast<nlmsghdr*>(msg.data());
  nh->nlmsg_len = static_cast<__u32>(NLMSG_HDRLEN + body.size());
  nh->nlmsg_type = NLMSG_MIN_TYPE;
  nh->nlmsg_flags = NLM_F_REQUEST;
  msg += body;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  REQUIRE(sendto(s.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) == static_cast<ssize_t>(msg.size()));
  bool accepted = false;
  pollfd p{(*l)->fd(), POLLIN, 0};
  REQUIRE(poll(&p, 1, 2000) == 1);  // the relay is synchronous: it is queued already
  auto r = (*l)->drain([&](const Uevent& e) { accepted = accepted || e.dm.has_value(); });
  REQUIRE(r.ok());
  CHECK_FALSE(accepted);
  CHECK(drops((*l)->counters(), UeventDrop::kRelayed) == 1);
}

TEST_CASE("listener receives a real kernel uevent from a loop device (needs root)") {
  test::require_privileged("the uevent listener test (loop device, /sys/block/*/uevent)");
  auto l = UeventListener::open();
  REQUIRE(l.ok());
  // SO_RCVBUFFORCE worked as root (getsockopt reports twice the request: the
  // kernel counts its skb overhead in the same budget).
  int granted = 0;
  socklen_t len = sizeof granted;
  REQUIRE(getsockopt(l->fd(), SOL_SOCKET, SO_RCVBUF, &granted, &len) == 0);
  CHECK(granted >= (32 << 20));
  ScratchLoop loop;
  const std::string uuid = random_uuid();
  loop.trigger("change " + uuid + " SANWATCH=1");

  // Through the agent's own epoll loop, as the watchdog will use it.
  auto loop_r = EventLoop::create();
  REQUIRE(loop_r.ok());
  EventLoop& ev_loop = **loop_r;
  std::optional<Uevent> got;
  bool timed_out = false;
  REQUIRE(ev_loop
              .add_fd(l->fd(), EPOLLIN,
                      [&](std::uint32_t) {
                        auto r = l->drain([&](const Uevent& e) {
                          if (e.get("SYNTH_UUID") == uuid) got = e;
                        });
                        REQUIRE(r.ok());
                        if (got) ev_loop.stop();
                      })
              .ok());
  ev_loop.at(monotonic_ns() + 5'000'000'000ull, [&] {
    timed_out = true;
    ev_loop.stop();
  });
  REQUIRE(ev_loop.run().ok());
  const bool found = got.has_value() && !timed_out;
  REQUIRE(found);
  CHECK(got->action == "change");
  CHECK(got->subsystem == "block");
  CHECK(got->devname == loop.name());
  CHECK(got->devpath == "/devices/virtual/block/" + loop.name());
  CHECK(got->get("SYNTH_ARG_SANWATCH") == "1");
  REQUIRE(got->dev.has_value());
  CHECK(got->dev->major == 7);
  // Real kernel uevents are never dropped as malformed.
  CHECK(l->counters().dropped_total() == 0);
}

TEST_CASE("listener reports a receive-queue overflow and keeps working (needs root)") {
  test::require_privileged("the uevent overflow test (loop device, /sys/block/*/uevent)");
  UeventListener::Options o;
  o.rcvbuf_bytes = 1;  // the kernel rounds up to its minimum: a few messages
  auto l = UeventListener::open(o);
  REQUIRE(l.ok());
  ScratchLoop loop;
  for (int i = 0; i < 200; ++i) loop.trigger("change");

  bool resync = false;
  drain_until(
      *l, milliseconds(300), [](const Uevent&) { return false; }, &resync);
  CHECK(resync);
  CHECK(l->counters().overflows >= 1);

  const std::string uuid = random_uuid();
  loop.trigger("change " + uuid);
  CHECK(drain_until(*l, milliseconds(5000),
                    [&](const Uevent& e) { return e.get("SYNTH_UUID") == uuid; }));
}
