// SPDX-License-Identifier: Apache-2.0
// Time sources. CLOCK_MONOTONIC is the clock the kernel stamps requests with
// (ktime_get_ns), so ages computed against it are exact.
#pragma once

#include <cstdint>
#include <string>

namespace sanwatch {

std::uint64_t monotonic_ns();
// CLOCK_REALTIME as Unix milliseconds (the ledger's and reports' wall clock).
std::int64_t wall_ms();
// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID), in ns.
std::uint64_t thread_cpu_ns();
// RFC 3339 UTC with microseconds: 2026-11-23T15:43:42.123456Z
std::string rfc3339_now();
// Unix milliseconds as RFC 3339 UTC: 2026-11-23T15:43:42.123Z
std::string rfc3339_ms(std::int64_t wall_ms);

}  // namespace sanwatch
