// SPDX-License-Identifier: Apache-2.0
// A DM_TABLE_STATUS ioctl reply as the kernel (or a broken one) fills it:
// struct dm_ioctl, then dm_target_spec entries with `next` offsets and
// NUL-terminated parameter strings. The first 4 bytes of the input also
// serve as the target count for the data-area walker.
#include <cstring>
#include <span>

#include "fuzz_util.h"
#include "host/dm_status.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  if (auto r = sanwatch::parse_status_reply({bytes, size}); r.ok()) {
    for (const auto& t : *r) FUZZ_CHECK(t.type.size() < size && t.params.size() < size);
  }
  if (size >= 4) {
    std::uint32_t count = 0;
    std::memcpy(&count, data, 4);
    (void)sanwatch::parse_target_specs({bytes + 4, size - 4}, count % 4096);
  }
  return 0;
}
