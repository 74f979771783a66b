// SPDX-License-Identifier: Apache-2.0
#include "privileged.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace sanwatch::test {

bool privileged_tests_required() {
  const char* v = std::getenv("SANWATCH_REQUIRE_PRIVILEGED_TESTS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

namespace {

std::string missing_capability() {
  if (geteuid() != 0) return "root (effective uid is not 0)";
  if (!std::ifstream("/sys/kernel/btf/vmlinux")) return "kernel BTF (/sys/kernel/btf/vmlinux)";
  if (access("/dev/loop-control", R_OK | W_OK) != 0) return "/dev/loop-control";
  if (access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse";
  return {};
}

[[noreturn]] void skip_or_fail(const std::string& what, const std::string& missing) {
  if (privileged_tests_required()) {
    std::fprintf(stderr,
                 "FAIL: %s needs %s, and SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 forbids skipping\n",
                 what.c_str(), missing.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }
  std::fprintf(stderr, "SKIP: %s needs %s\n", what.c_str(), missing.c_str());
  std::fflush(stderr);
  std::_Exit(kSkipExitCode);
}

}  // namespace

void require_privileged(const std::string& what) {
  const std::string missing = missing_capability();
  if (!missing.empty()) skip_or_fail(what, missing);
}

void require_tool(const std::string& what, const std::string& path) {
  if (access(path.c_str(), X_OK) != 0) skip_or_fail(what, path + " (not installed)");
}

}  // namespace sanwatch::test
