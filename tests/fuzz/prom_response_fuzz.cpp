// SPDX-License-Identifier: Apache-2.0
// A Prometheus (or Thanos, or anything at the URL) HTTP API answer, as
// `sanwatch report --prometheus` reads it: refused or parsed, never a crash.
#include <string_view>

#include "fuzz_util.h"
#include "report/prom_response.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto a = sanwatch::parse_prom_answer(body); a.ok()) {
    for (const auto& s : a->series) (void)s.samples.size();
  } else {
    FUZZ_CHECK(!a.error().context.empty());
  }
  (void)sanwatch::parse_prom_series(body);
  return 0;
}
