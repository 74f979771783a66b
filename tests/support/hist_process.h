// SPDX-License-Identifier: Apache-2.0
// `sanwatch hist --json` as a child process, for integration tests. The
// including test target defines SANWATCH_BIN.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "process.h"

namespace sanwatch::test {

// Starts `sanwatch hist --json ARGS...` and waits until its programs are
// attached (the "Tracing" line on stderr).
inline std::unique_ptr<ChildProcess> start_hist(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SANWATCH_BIN, "hist", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = std::make_unique<ChildProcess>(argv);
  auto line = p->wait_for_line(ChildProcess::Stream::kStderr, "Tracing", std::chrono::seconds(20));
  INFO("stderr: " << p->captured(ChildProcess::Stream::kStderr));
  REQUIRE(line);
  return p;
}

}  // namespace sanwatch::test
