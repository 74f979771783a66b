// SPDX-License-Identifier: Apache-2.0
// `sanwatch report`'s TIME, DURATION, PERCENT and latency-SLO arguments.
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "report/options.h"
#include "report/period.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      (void)sanwatch::parse_time(s);
      break;
    case 1:
      if (auto p = sanwatch::month_period(s)) FUZZ_CHECK(p->from_ms < p->to_ms);
      break;
    case 2:
      if (auto p = sanwatch::last_period(s, 1'796'000'000'000)) FUZZ_CHECK(p->from_ms <= p->to_ms);
      break;
    case 3:
      if (auto p = sanwatch::parse_percent(s)) {
        FUZZ_CHECK(p->value() >= 0 && p->value() <= 100);
        (void)p->complement_of(86'400'000LL * 400);
        (void)p->at_most(1, 3);
      }
      break;
    case 4:
      (void)sanwatch::parse_latency_slo(s);
      break;
  }
  return 0;
}
