// SPDX-License-Identifier: Apache-2.0
// Durations in config files ("250ms", "2s", "1m", "500us", "1h"), and
// for people.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sanwatch {

using Duration = std::chrono::nanoseconds;

// nullopt for anything but a non-negative number followed by ns, us, ms, s,
// m or h (fractions allowed: "1.5s").
std::optional<Duration> parse_duration(std::string_view s);
// Shortest exact spelling: 250ms, 2s, 1m30s is written 90s.
std::string format_duration(Duration d);
// For people, not config files: "1.25ms", "980us", "2.5s", three
// significant digits in the best unit.
std::string human_duration(double seconds);

}  // namespace sanwatch
