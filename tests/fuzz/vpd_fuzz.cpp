// SPDX-License-Identifier: Apache-2.0
// Binary SCSI VPD pages from sysfs (vpd_pg83, vpd_pg80) and fixed-width
// INQUIRY strings: the array writes them, sanwatch turns them into labels.
// The serial must come out printable ASCII (escaped as the kernel's %pE
// does); the WWID is the kernel's `wwid` attribute byte for byte, and a
// SCSI name string designator may hold any UTF-8 (or, from a broken array,
// any byte but NUL): the exposition and JSON writers make it safe.
#include <string_view>

#include "fuzz_util.h"
#include "host/topology.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view page(reinterpret_cast<const char*>(data), size);
  const std::string wwid = sanwatch::wwid_from_vpd83(page);
  FUZZ_CHECK(wwid.find('\0') == std::string::npos, wwid);
  const std::string serial = sanwatch::serial_from_vpd80(page);
  FUZZ_CHECK(fuzz::printable_ascii(serial), serial);
  const sanwatch::AluaPort port = sanwatch::alua_port_from_vpd83(page);
  FUZZ_CHECK(port.group >= -1 && port.group <= 0xffff && port.rel_port >= -1 &&
             port.rel_port <= 0xffff);
  const std::string trimmed = sanwatch::trim_id_string(page);
  FUZZ_CHECK(trimmed.size() <= page.size());
  return 0;
}
