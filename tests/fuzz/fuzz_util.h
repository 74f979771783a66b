// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the fuzz targets.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

// A broken invariant: print it with the input's context and abort, so that
// libFuzzer saves the input as a crash reproducer.
#define FUZZ_CHECK(cond, ...)                                                                 \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      __VA_OPT__(std::fprintf(stderr, "  %s\n", std::string(__VA_ARGS__).c_str());)           \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace fuzz {

// Printable ASCII only: what sanwatch promises for identity strings it
// puts in labels, JSON and logs.
inline bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

}  // namespace fuzz
