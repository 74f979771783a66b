// SPDX-License-Identifier: Apache-2.0
// /proc/diskstats text: the numbers of hidden disks (NVMe multipath paths,
// which have no sysfs `dev` attribute) are read from it. The first byte
// says whether to feed the rest whole or split at that offset (a read that
// ends mid-line).
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "host/block_devices.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] && data[0] < s.size()) s = s.substr(0, data[0]);
  for (const auto& [name, id] : sanwatch::parse_diskstats(s)) {
    // A name is one whitespace-free token, a number fits the kernel's dev_t.
    FUZZ_CHECK(!name.empty() && name.size() < 64, name);
    FUZZ_CHECK(name.find_first_of(" \t\n") == std::string::npos, name);
    FUZZ_CHECK(id.major < 4096 && id.minor < (1u << 20));
    FUZZ_CHECK(sanwatch::parse_dev_id(id.str()) == id);
  }
  return 0;
}
