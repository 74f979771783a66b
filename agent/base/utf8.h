// SPDX-License-Identifier: Apache-2.0
// UTF-8 validity for text that leaves the agent in formats that demand it:
// Prometheus refuses a whole scrape over one label value that is not valid
// UTF-8, and a dm map name or an array's INQUIRY string may hold any byte.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sanwatch {

// Length of the valid UTF-8 sequence at s[i] (1-4), 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i);

bool valid_utf8(std::string_view s);

// Appends s with every byte that starts no valid sequence replaced by
// U+FFFD, as Go's strings.ToValidUTF8 does per byte.
void append_valid_utf8(std::string& out, std::string_view s);

}  // namespace sanwatch
