// SPDX-License-Identifier: Apache-2.0
#include "host/uevent.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include "base/parse.h"

namespace sanwatch {
namespace {

// The kernel's uevent multicast group; udevd re-broadcasts on group 2.
constexpr std::uint32_t kKernelGroup = 1;
// dm-mpath allows 1024 groups of 1024 paths, but no real map comes near a
// few dozen paths: a larger count is corruption, not a SAN.
constexpr std::uint64_t kMaxDmPaths = 4096;

bool valid_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

struct Fail {
  UeventDrop why;
};

// Header and KEY=VALUE fields into ev; the message ends with '\0'.
std::optional<Fail> split_fields(std::string_view body, Uevent& ev, std::string_view& action,
                                 std::string_view& devpath) {
  const std::size_t header_end = body.find('\0');
  const std::string_view header = body.substr(0, header_end);
  const std::size_t at = header.find('@');
  if (at == std::string_view::npos) return Fail{UeventDrop::kBadHeader};
  action = header.substr(0, at);
  devpath = header.substr(at + 1);
  // kobject_get_path() always yields an absolute path.
  if (action.empty() || devpath.empty() || devpath.front() != '/')
    return Fail{UeventDrop::kBadHeader};

  std::size_t pos = header_end + 1;
  while (pos < body.size()) {
    const std::size_t end = body.find('\0', pos);
    const std::string_view field = body.substr(pos, end - pos);
    pos = end + 1;
    if (ev.env.size() == kUeventMaxKeys) return Fail{UeventDrop::kTooManyKeys};
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos || !valid_key(field.substr(0, eq)))
      return Fail{UeventDrop::kBadKey};
    auto [it, inserted] = ev.env.emplace(field.substr(0, eq), field.substr(eq + 1));
    if (!inserted) return Fail{UeventDrop::kDuplicateKey};
  }
  return std::nullopt;
}

std::optional<Fail> fill_common(Uevent& ev, std::string_view action, std::string_view devpath) {
  auto act = ev.get("ACTION"), path = ev.get("DEVPATH"), sub = ev.get("SUBSYSTEM"),
       seq = ev.get("SEQNUM");
  if (!act || !path || !sub || !seq) return Fail{UeventDrop::kMissingKey};
  if (*act != action || *path != devpath) return Fail{UeventDrop::kHeaderMismatch};
  auto seqnum = parse_uint<std::uint64_t>(*seq);
  if (!seqnum) return Fail{UeventDrop::kBadNumber};
  ev.action = *act;
  ev.devpath = *path;
  ev.subsystem = *sub;
  ev.seqnum = *seqnum;
  ev.devname = ev.get("DEVNAME").value_or("");
  ev.devtype = ev.get("DEVTYPE").value_or("");

  auto maj = ev.get("MAJOR"), min = ev.get("MINOR");
  if (maj.has_value() != min.has_value()) return Fail{UeventDrop::kMissingKey};
  if (maj) {
    auto id = parse_dev_strict(std::string(*maj) + ":" + std::string(*min));
    if (!id) return Fail{UeventDrop::kBadDevNumber};
    ev.dev = *id;
  }
  return std::nullopt;
}

// dm-uevent.c always sends DM_TARGET, DM_ACTION, DM_SEQNUM, DM_PATH,
// DM_NR_VALID_PATHS, DM_NAME, DM_UUID together; a DM_ACTION without the path
// and count is useless to act on and was not built by that code.
std::optional<Fail> fill_dm(Uevent& ev) {
  auto action = ev.get("DM_ACTION");
  if (!action) return std::nullopt;
  auto path = ev.get("DM_PATH"), valid = ev.get("DM_NR_VALID_PATHS");
  if (!path || !valid) return Fail{UeventDrop::kMissingKey};
  DmPathEvent dm;
  auto dev = parse_dev_strict(*path);
  if (!dev) return Fail{UeventDrop::kBadDevNumber};
  auto nr = parse_uint<std::uint64_t>(*valid);
  if (!nr || *nr > kMaxDmPaths) return Fail{UeventDrop::kBadNumber};
  if (auto seq = ev.get("DM_SEQNUM")) {
    dm.seqnum = parse_uint<std::uint64_t>(*seq);
    if (!dm.seqnum) return Fail{UeventDrop::kBadNumber};
  }
  dm.action_name = *action;
  dm.action = *action == "PATH_FAILED"       ? DmPathAction::kPathFailed
              : *action == "PATH_REINSTATED" ? DmPathAction::kPathReinstated
                                             : DmPathAction::kOther;
  dm.path = *dev;
  dm.nr_valid_paths = static_cast<unsigned>(*nr);
  dm.target = ev.get("DM_TARGET").value_or("");
  dm.name = ev.get("DM_NAME").value_or("");
  dm.uuid = ev.get("DM_UUID").value_or("");
  ev.dm = std::move(dm);
  return std::nullopt;
}

bool upper_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool hctl_name(std::string_view s) {
  for (int i = 0; i < 4; ++i) {
    const std::size_t colon = i < 3 ? s.find(':') : s.size();
    if (colon == std::string_view::npos || !parse_uint<std::uint64_t>(s.substr(0, colon)))
      return false;
    s.remove_prefix(std::min(colon + 1, s.size()));
  }
  return true;
}

// scsi_evt_emit() sends SDEV_UA only on a scsi_device's change event; the
// device is named by the devpath (no MAJOR/MINOR: it is not a block device).
std::optional<Fail> fill_scsi_ua(Uevent& ev) {
  auto ua = ev.get("SDEV_UA");
  if (!ua) return std::nullopt;
  const std::string_view last =
      std::string_view(ev.devpath).substr(ev.devpath.find_last_of('/') + 1);
  if (ev.subsystem != "scsi" || ev.action != "change" || !upper_name(*ua) || !hctl_name(last))
    return Fail{UeventDrop::kBadUnitAttention};
  ev.scsi_ua = ScsiUnitAttention{std::string(*ua), std::string(last)};
  return std::nullopt;
}

const ucred* find_credentials(msghdr& mh) {
  if (mh.msg_flags & MSG_CTRUNC) return nullptr;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
        c->cmsg_len == CMSG_LEN(sizeof(ucred)))
      return reinterpret_cast<const ucred*>(CMSG_DATA(c));
  }
  return nullptr;
}

}  // namespace

std::uint64_t UeventCounters::dropped_total() const {
  std::uint64_t n = 0;
  for (auto d : dropped) n += d;
  return n;
}

std::string_view uevent_drop_name(UeventDrop r) {
  switch (r) {
    case UeventDrop::kNotKernel:
      return "not_kernel";
    case UeventDrop::kNoCredentials:
      return "no_credentials";
    case UeventDrop::kRelayed:
      return "relayed";
    case UeventDrop::kLibudev:
      return "libudev";
    case UeventDrop::kTruncated:
      return "truncated";
    case UeventDrop::kOversized:
      return "oversized";
    case UeventDrop::kBadHeader:
      return "bad_header";
    case UeventDrop::kBadKey:
      return "bad_key";
    case UeventDrop::kDuplicateKey:
      return "duplicate_key";
    case UeventDrop::kTooManyKeys:
      return "too_many_keys";
    case UeventDrop::kHeaderMismatch:
      return "header_mismatch";
    case UeventDrop::kMissingKey:
      return "missing_key";
    case UeventDrop::kBadDevNumber:
      return "bad_dev_number";
    case UeventDrop::kBadNumber:
      return "bad_number";
    case UeventDrop::kBadUnitAttention:
      return "bad_unit_attention";
    case UeventDrop::kCount:
      break;
  }
  return "unknown";
}

std::optional<std::string_view> Uevent::get(std::string_view key) const {
  auto it = env.find(key);
  if (it == env.end()) return std::nullopt;
  return std::string_view(it->second);
}

bool Uevent::has(std::string_view key, std::string_view value) const {
  auto v = get(key);
  return v && *v == value;
}

std::optional<DevId> parse_dev_strict(std::string_view s) {
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto maj = parse_uint<unsigned>(s.substr(0, colon));
  auto min = parse_uint<unsigned>(s.substr(colon + 1));
  // dev_t is 12 bits of major and 20 of minor (MINORBITS).
  if (!maj || !min || *maj >= (1u << 12) || *min >= (1u << 20)) return std::nullopt;
  return DevId{*maj, *min};
}

std::optional<Uevent> parse_uevent(std::span<const char> msg, UeventDrop* why) {
  auto fail = [why](UeventDrop r) -> std::optional<Uevent> {
    if (why) *why = r;
    return std::nullopt;
  };
  if (msg.size() > kUeventMaxBytes) return fail(UeventDrop::kOversized);
  // libudev's header: "libudev\0" followed by the magic 0xfeedcafe.
  if (msg.size() >= 8 && std::memcmp(msg.data(), "libudev", 8) == 0)
    return fail(UeventDrop::kLibudev);
  if (msg.empty() || msg.back() != '\0') return fail(UeventDrop::kTruncated);

  Uevent ev;
  std::string_view action, devpath;
  const std::string_view body(msg.data(), msg.size());
  if (auto f = split_fields(body, ev, action, devpath)) return fail(f->why);
  if (auto f = fill_common(ev, action, devpath)) return fail(f->why);
  if (auto f = fill_dm(ev)) return fail(f->why);
  if (auto f = fill_scsi_ua(ev)) return fail(f->why);
  return ev;
}

std::optional<UeventDrop> check_uevent_sender(const sockaddr_nl& from, const ucred* cred) {
  // A process sends from its own port, never port 0...
  if (from.nl_pid != 0) return UeventDrop::kNotKernel;
  if (cred == nullptr || cred->uid != 0) return UeventDrop::kNoCredentials;
  // ...but a root one may send to the kernel, which re-broadcasts the message
  // from port 0 with the sender's credentials: its pid, never 0 (the kernel
  // builds its own uevents with pid 0; systemd-udevd checks uid only).
  if (cred->pid != 0) return UeventDrop::kRelayed;
  return std::nullopt;
}

Result<UeventListener> UeventListener::open(Options options) {
  UniqueFd fd(
      ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT));
  if (!fd.valid()) return errno_error("socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT)");
  const int one = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
    return errno_error("uevent socket: SO_PASSCRED");
  // SO_RCVBUFFORCE (CAP_NET_ADMIN) ignores net.core.rmem_max, which is
  // often too small for a burst; unprivileged, take what SO_RCVBUF grants.
  const int want = options.rcvbuf_bytes;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &want, sizeof want) != 0)
    return errno_error("uevent socket: SO_RCVBUF " + std::to_string(want));

  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_pid = 0;  // let the kernel pick a unique port
  addr.nl_groups = kKernelGroup;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return errno_error("uevent socket: bind to kernel group 1");
  return UeventListener(std::move(fd), options);
}

Result<UeventListener::Read> UeventListener::read_one(const Callback& cb, DrainResult& out) {
  sockaddr_nl from{};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  iovec iov{buf_.data(), buf_.size()};
  msghdr mh{};
  mh.msg_name = &from;
  mh.msg_namelen = sizeof from;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do {
    // MSG_TRUNC: return the datagram's real length, so oversize is visible.
    n = ::recvmsg(fd_.get(), &mh, MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Read::kEmpty;
    // The socket overran: events are lost, the queue after it is intact.
    if (errno == ENOBUFS) {
      ++counters_.overflows;
      return Read::kOverflow;
    }
    return errno_error("uevent socket: recvmsg");
  }
  ++counters_.received;

  std::optional<UeventDrop> why = check_uevent_sender(from, find_credentials(mh));
  std::optional<Uevent> ev;
  if (!why && ((mh.msg_flags & MSG_TRUNC) || static_cast<std::size_t>(n) > buf_.size()))
    why = UeventDrop::kOversized;
  if (!why) {
    UeventDrop reason{};
    ev = parse_uevent(std::span<const char>(buf_.data(), static_cast<std::size_t>(n)), &reason);
    if (!ev) why = reason;
  }
  if (why) {
    counters_.drop(*why);
    ++out.dropped;
    return Read::kMessage;
  }
  ++counters_.accepted;
  ++out.delivered;
  cb(*ev);
  return Read::kMessage;
}

Result<UeventListener::DrainResult> UeventListener::drain(const Callback& cb) {
  DrainResult out;
  for (std::size_t i = 0; i < options_.max_messages_per_drain; ++i) {
    auto r = read_one(cb, out);
    if (!r) return r.error();
    if (*r == Read::kEmpty) return out;
    if (*r == Read::kOverflow) out.resync_needed = true;
  }
  out.more = true;
  return out;
}

}  // namespace sanwatch
