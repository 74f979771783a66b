// SPDX-License-Identifier: Apache-2.0
// The small numbers sanwatch reads from /sys, /proc, uevents, the
// environment and config values: device numbers, in-flight counts, stat
// fields, durations, operation names, JOURNAL_STREAM, SCSI command counters. The first byte picks
// the parser so that each keeps its own coverage.
#include <cstdio>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/parse.h"
#include "exporters/journal_sink.h"
#include "fuzz_util.h"
#include "host/block_devices.h"
#include "host/scsi_counters.h"
#include "host/uevent.h"
#include "kernel/io_stats.h"
#include "kernel/preexisting.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 9) {
    case 0:
      if (auto d = sanwatch::parse_dev_id(std::string(s)))
        FUZZ_CHECK(sanwatch::parse_dev_id(d->str()) == d);
      break;
    case 1:
      if (auto d = sanwatch::parse_dev_strict(s)) {
        FUZZ_CHECK(d->major < 4096 && d->minor < (1u << 20));
        FUZZ_CHECK(sanwatch::parse_dev_strict(d->str()) == d);
      }
      break;
    case 2:
      (void)sanwatch::parse_inflight(s);
      break;
    case 3:
      (void)sanwatch::parse_io_ticks_ms(s);
      break;
    case 4:
      // A duration that parses is written back exactly (check-config).
      if (auto d = sanwatch::parse_duration(s)) {
        const std::string text = sanwatch::format_duration(*d);
        FUZZ_CHECK(sanwatch::parse_duration(text) == d, std::string(s) + " -> " + text);
        (void)sanwatch::human_duration(std::chrono::duration<double>(*d).count());
      }
      break;
    case 5:
      (void)sanwatch::parse_op(s);
      break;
    case 6:
      (void)sanwatch::parse_journal_stream(s);
      break;
    case 7:
      (void)sanwatch::parse_uint<std::uint64_t>(s);
      (void)sanwatch::parse_uint<unsigned>(s);
      break;
    case 8:
      // A SCSI counter (iodone_cnt...) that parses is the kernel's "0x%llx".
      if (auto v = sanwatch::parse_scsi_counter(s)) {
        char buf[32];
        const int n =
            std::snprintf(buf, sizeof buf, "0x%llx\n", static_cast<unsigned long long>(*v));
        FUZZ_CHECK(sanwatch::parse_scsi_counter(std::string_view(buf, n)) == v, std::string(s));
      }
      break;
  }
  return 0;
}
