// SPDX-License-Identifier: Apache-2.0
// Gate for tests that need root, BPF, loop devices or FUSE.
//
// Outside CI such a test skips with a clear message (exit code 77, which CTest
// reports as "Skipped"). With SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 (set by
// .ci/run) the same condition is a failure, so CI can never go green by
// silently skipping the tests that matter.
#pragma once

#include <string>

namespace sanwatch::test {

inline constexpr int kSkipExitCode = 77;

// Returns normally when the process may run privileged tests; otherwise skips
// (exit 77) or fails (exit 1) the whole test process, saying `what` needs it.
void require_privileged(const std::string& what);

// Same convention for an external program a test drives (e.g. Chromium):
// returns when `path` is an executable file, else skips (exit 77) or, with
// SANWATCH_REQUIRE_PRIVILEGED_TESTS=1, fails, saying `what` needs it.
void require_tool(const std::string& what, const std::string& path);

// True when SANWATCH_REQUIRE_PRIVILEGED_TESTS=1.
bool privileged_tests_required();

}  // namespace sanwatch::test
