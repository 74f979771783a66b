// Time sources. CLOCK_MONOTONIC is the clock the kernel stamps requests with
// (ktime_get_ns), so ages computed against it are exact.
#pragma once

#include <cstdint>
#include <string>

namespace sanwatch {

std::uint64_t monotonic_ns();
// RFC 3339 UTC with microseconds: 2026-11-23T15:43:42.123456Z
std::string rfc3339_now();

}  // namespace sanwatch
