// SPDX-License-Identifier: Apache-2.0
// The agent's open-file limit for metrics.max_connections: the soft limit is
// raised (never lowered) up to the hard limit, with a warning when the hard
// limit is too low.
#include "cli/fd_limit.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "detect/event_log.h"

using namespace sanwatch;

namespace {

rlimit nofile() {
  rlimit l{};
  getrlimit(RLIMIT_NOFILE, &l);
  return l;
}

// What raise_fd_limit logged.
std::string raise_and_log(std::uint64_t needed) {
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  {
    EventLog log(out);
    raise_fd_limit(needed, log);
  }
  std::fclose(out);
  std::string text(buf, len);
  std::free(buf);
  return text;
}

}  // namespace

TEST_CASE("fd limit: raised to what max_connections needs, up to the hard limit") {
  const rlimit saved = nofile();
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max < 2048) {
    WARN("hard RLIMIT_NOFILE " << saved.rlim_max << ": not testable here");
    return;
  }
  rlimit low{1024, saved.rlim_max};
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  CHECK(raise_and_log(1500).empty());
  CHECK(nofile().rlim_cur == 1500);
  CHECK(raise_and_log(1200).empty());  // never lowered
  CHECK(nofile().rlim_cur == 1500);
  const std::string warned = raise_and_log(saved.rlim_max + 1);
  CHECK(nofile().rlim_cur == saved.rlim_max);
  CHECK(warned.find("open-file hard limit is below") != std::string::npos);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
}
