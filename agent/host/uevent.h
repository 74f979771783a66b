// SPDX-License-Identifier: Apache-2.0
// Kernel uevents (NETLINK_KOBJECT_UEVENT): a pure parser for the kernel's
// message format and an RAII listener for the agent's epoll loop.
//
// A uevent is a hint that something changed (a dm-multipath path failed, a
// disk appeared, a SCSI unit attention arrived); the agent reacts by
// re-reading state, so a message that is not provably from the kernel and
// well formed is dropped and counted, never trusted. When the kernel drops
// messages for us (ENOBUFS) the caller must rescan everything.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "host/block_devices.h"  // DevId

struct sockaddr_nl;
struct ucred;

namespace sanwatch {

// The kernel builds the environment in a 2 KiB buffer (UEVENT_BUFFER_SIZE)
// and prefixes "ACTION@DEVPATH"; anything bigger is not a kernel uevent.
inline constexpr std::size_t kUeventMaxBytes = 8192;
// add_uevent_var() refuses more than UEVENT_NUM_ENVP (64 since 4.x) entries.
inline constexpr std::size_t kUeventMaxKeys = 64;

enum class UeventDrop : std::uint8_t {
  kNotKernel,      // sender nl_pid != 0: a process, not the kernel
  kNoCredentials,  // no SCM_CREDENTIALS, or sender uid != 0
  // Port 0 and uid 0, but the credentials carry a process id: a root
  // process's message the kernel relayed (uevent_net_rcv: sent to port 0,
  // re-broadcast with portid 0 and the sender's credentials). The kernel's
  // own uevents carry pid 0.
  kRelayed,
  kLibudev,         // udevd's "libudev" re-broadcast (belongs on group 2)
  kTruncated,       // empty, or not NUL-terminated
  kOversized,       // above kUeventMaxBytes (or cut by recvmsg: MSG_TRUNC)
  kBadHeader,       // header without '@', or empty action / devpath
  kBadKey,          // a field without '=', or a key that is not [A-Za-z0-9_]+
  kDuplicateKey,    // the same KEY twice
  kTooManyKeys,     // more than kUeventMaxKeys fields
  kHeaderMismatch,  // header ACTION@DEVPATH disagrees with ACTION= / DEVPATH=
  kMissingKey,      // ACTION/DEVPATH/SUBSYSTEM/SEQNUM, or DM_ACTION without DM_PATH/...
  kBadDevNumber,    // DM_PATH, MAJOR/MINOR not a valid maj:min
  kBadNumber,       // SEQNUM, DM_SEQNUM, DM_NR_VALID_PATHS not a number, or absurd
  // SDEV_UA not an upper-case name, or on an event that is not a SCSI
  // device's (SUBSYSTEM=scsi, devpath ending in H:C:T:L)
  kBadUnitAttention,
  kCount
};

// The reason as a metric label value: "not_kernel", "relayed", ...
std::string_view uevent_drop_name(UeventDrop r);

struct UeventCounters {
  std::uint64_t received = 0;   // datagrams read from the socket
  std::uint64_t accepted = 0;   // handed to the callback
  std::uint64_t overflows = 0;  // ENOBUFS: the kernel dropped events meant for us
  std::array<std::uint64_t, static_cast<std::size_t>(UeventDrop::kCount)> dropped{};

  void drop(UeventDrop r) { ++dropped[static_cast<std::size_t>(r)]; }
  std::uint64_t dropped_total() const;
};

enum class DmPathAction : std::uint8_t { kPathFailed, kPathReinstated, kOther };

// The DM_* keys dm-mpath adds to a `change` uevent of the map
// (drivers/md/dm-uevent.c: dm_build_path_uevent, dm_send_uevents).
struct DmPathEvent {
  DmPathAction action = DmPathAction::kOther;
  std::string action_name;              // DM_ACTION as sent
  std::string target;                   // DM_TARGET, "multipath"
  DevId path;                           // DM_PATH: the path that failed / came back
  unsigned nr_valid_paths = 0;          // DM_NR_VALID_PATHS after the change
  std::string name;                     // DM_NAME (mpatha)
  std::string uuid;                     // DM_UUID (mpath-<wwid>), may be empty
  std::optional<std::uint64_t> seqnum;  // DM_SEQNUM, per map
};

// A unit attention the SCSI midlayer reported (scsi_evt_emit: a `change` of
// the scsi_device with SDEV_UA=<what changed>), e.g.
// ASYMMETRIC_ACCESS_STATE_CHANGED when the array changed an ALUA state.
struct ScsiUnitAttention {
  std::string what;  // SDEV_UA as sent
  std::string hctl;  // the device: the devpath's last component, "0:0:1:0"
  bool alua() const { return what == "ASYMMETRIC_ACCESS_STATE_CHANGED"; }
};

struct Uevent {
  std::string action;        // add, remove, change, move, online, offline, bind, unbind
  std::string devpath;       // /devices/virtual/block/dm-0
  std::string subsystem;     // block, scsi, scsi_disk, ...
  std::string devname;       // DEVNAME, empty when absent
  std::string devtype;       // DEVTYPE (disk, partition, scsi_device), empty when absent
  std::optional<DevId> dev;  // MAJOR/MINOR when both are present
  std::uint64_t seqnum = 0;  // SEQNUM: global, strictly increasing
  std::map<std::string, std::string, std::less<>> env;  // every KEY=VALUE, the above included
  std::optional<DmPathEvent> dm;                        // set when DM_ACTION is present (and valid)
  std::optional<ScsiUnitAttention> scsi_ua;             // set when SDEV_UA is present (and valid)

  std::optional<std::string_view> get(std::string_view key) const;
  bool has(std::string_view key, std::string_view value) const;

  // `change` with RESIZE=1: capacity changed (set_capacity_and_notify, dm).
  bool resized() const { return action == "change" && has("RESIZE", "1"); }
};

// Parses one datagram: "ACTION@DEVPATH\0KEY=VALUE\0...". Returns nullopt and
// sets *why when the message is malformed or hostile. Does not look at the
// sender; see check_uevent_sender().
std::optional<Uevent> parse_uevent(std::span<const char> msg, UeventDrop* why = nullptr);

// nullopt when the datagram provably comes from the kernel: netlink port 0
// and SCM_CREDENTIALS with uid 0 and pid 0. cred is null when none was
// attached.
std::optional<UeventDrop> check_uevent_sender(const sockaddr_nl& from, const ucred* cred);

// Strict "MAJ:MIN" (decimal digits only, major < 4096, minor < 2^20).
std::optional<DevId> parse_dev_strict(std::string_view s);

class UeventListener {
 public:
  struct Options {
    // udevd asks for 128 MiB; a path flap on hundreds of LUNs is a burst of
    // thousands of messages, each a few KiB of skb.
    int rcvbuf_bytes = 32 << 20;
    // Bound one drain so a storm cannot starve the loop; epoll is level
    // triggered, so what is left is read on the next turn.
    std::size_t max_messages_per_drain = 4096;
  };

  struct DrainResult {
    std::size_t delivered = 0;
    std::size_t dropped = 0;
    // The kernel dropped messages (ENOBUFS): state may have changed unseen,
    // rescan everything.
    bool resync_needed = false;
    bool more = false;  // stopped at max_messages_per_drain, socket not empty
  };

  using Callback = std::function<void(const Uevent&)>;

  static Result<UeventListener> open(Options options);
  static Result<UeventListener> open() { return open(Options{}); }

  int fd() const { return fd_.get(); }
  // Reads until EAGAIN (never blocks) and calls cb for each accepted event.
  // An error is returned only when the socket itself fails.
  Result<DrainResult> drain(const Callback& cb);

  const UeventCounters& counters() const { return counters_; }

 private:
  UeventListener(UniqueFd fd, Options o) : fd_(std::move(fd)), options_(o), buf_(kUeventMaxBytes) {}
  enum class Read { kMessage, kEmpty, kOverflow };
  Result<Read> read_one(const Callback& cb, DrainResult& out);

  UniqueFd fd_;
  Options options_;
  UeventCounters counters_;
  std::vector<char> buf_;
};

}  // namespace sanwatch
