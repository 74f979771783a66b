// SPDX-License-Identifier: Apache-2.0
// dm-multipath status and table parameter strings (what DM_TABLE_STATUS
// returns for a multipath target), as a kernel of another version or a
// path selector with its own arguments may write them.
#include <string_view>

#include "fuzz_util.h"
#include "host/dm_status.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto s = sanwatch::parse_multipath_status(text); s.ok()) {
    FUZZ_CHECK(s->valid_paths() <= s->total_paths());
    FUZZ_CHECK(s->next_group <= s->groups.size() || s->groups.empty());
  }
  if (auto t = sanwatch::parse_multipath_table(text); t.ok()) (void)t->queue_if_no_path();
  return 0;
}
