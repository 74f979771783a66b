// SPDX-License-Identifier: Apache-2.0
// A pre-check of TOML text before toml++ sees it. Debian 12's toml++ 3.3.0
// reaches __builtin_unreachable() (undefined behaviour in every build) on
// some non-ASCII characters where it expects whitespace, e.g. "[a]" then
// "é" (upstream issues #190/#295, fixed after 3.3.0), and its assertion
// builds abort on a table header such as "[{". Neither is valid TOML, so
// rejecting them here never refuses a valid file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sanwatch {

// "line:column: what is wrong" (1-based; columns count characters, as
// toml++'s do) for the first byte toml++ must not see; nullopt if none.
std::optional<std::string> toml_guard(std::string_view text);

}  // namespace sanwatch
