// SPDX-License-Identifier: Apache-2.0
// One NETLINK_KOBJECT_UEVENT datagram, as any process on the host can send
// one (check_uevent_sender() drops those, but the parser must survive them).
#include <span>
#include <string>

#include "fuzz_util.h"
#include "host/uevent.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const char> msg(reinterpret_cast<const char*>(data), size);
  sanwatch::UeventDrop why = sanwatch::UeventDrop::kCount;
  auto ev = sanwatch::parse_uevent(msg, &why);
  if (!ev) {
    FUZZ_CHECK(why != sanwatch::UeventDrop::kCount);  // every drop says why
    return 0;
  }
  FUZZ_CHECK(!ev->action.empty() && !ev->devpath.empty());
  FUZZ_CHECK(ev->env.size() <= sanwatch::kUeventMaxKeys);
  for (const auto& [k, v] : ev->env) {
    FUZZ_CHECK(!k.empty() && k.find('\0') == std::string::npos);
    FUZZ_CHECK(v.find('\0') == std::string::npos);
  }
  FUZZ_CHECK(ev->get("SEQNUM").has_value());
  if (ev->dm) FUZZ_CHECK(ev->get("DM_ACTION").has_value());
  // A unit attention names a SCSI device by H:C:T:L only: what the watchdog
  // looks paths up by, never a path to open.
  if (ev->scsi_ua) {
    FUZZ_CHECK(ev->subsystem == "scsi" && ev->action == "change");
    FUZZ_CHECK(ev->scsi_ua->hctl.find_first_not_of("0123456789:") == std::string::npos,
               ev->scsi_ua->hctl);
  }
  return 0;
}
