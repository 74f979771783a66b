// SPDX-License-Identifier: Apache-2.0
// Numbers from outside input (sysfs, uevents, dm tables, config values):
// strict, no sign, no spaces, no exceptions.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace sanwatch {

// The whole of `s` as an unsigned number of type T; nullopt for anything
// else (empty, a sign, spaces, trailing text, out of range).
template <typename T>
std::optional<T> parse_uint(std::string_view s) {
  T v{};
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace sanwatch
