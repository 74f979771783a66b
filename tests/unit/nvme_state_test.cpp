// SPDX-License-Identifier: Apache-2.0
#include "host/nvme_state.h"

#include <catch2/catch.hpp>

using sanwatch::judge_nvme_path;

TEST_CASE(
    "NVMe path: usable only with a live controller and an optimized/non-optimized ANA state") {
  CHECK(judge_nvme_path("optimized", "live").usable);
  CHECK(judge_nvme_path("non-optimized", "live").usable);
  CHECK(judge_nvme_path("", "live").usable);  // no ANA (a single-port drive)
  CHECK(judge_nvme_path("optimized", "live").reason.empty());
  for (const char* ana : {"inaccessible", "persistent-loss", "change"}) {
    const auto v = judge_nvme_path(ana, "live");
    CHECK_FALSE(v.usable);
    CHECK_FALSE(v.unknown_ana);
    CHECK(v.reason == std::string("ana_state ") + ana);
  }
}

TEST_CASE("NVMe path: the controller's state is named when it is not live") {
  for (const char* ctrl : {"connecting", "resetting", "deleting", "deleting (no IO)", "dead"}) {
    const auto v = judge_nvme_path("optimized", ctrl);
    CHECK_FALSE(v.usable);
    CHECK(v.reason == std::string("controller ") + ctrl);
  }
  CHECK(judge_nvme_path("optimized", "").reason == "controller state unknown");
  // Both wrong: the controller is the cause (its ANA state is stale).
  CHECK(judge_nvme_path("inaccessible", "connecting").reason == "controller connecting");
}

TEST_CASE("NVMe path: an ANA state outside the spec's five is reported, not usable") {
  const auto v = judge_nvme_path("optimised", "live");
  CHECK_FALSE(v.usable);
  CHECK(v.unknown_ana);
  CHECK(v.reason == "unknown ana_state 'optimised'");
}

TEST_CASE("NVMe path state is read fresh from the disk and its controller") {
  const sanwatch::SysfsBlock sys(std::string(SANWATCH_FIXTURES) + "/hosts/nvmeof");
  const auto a = sanwatch::read_nvme_path_state(sys, "nvme0c1n1");
  CHECK(a.ana_state == "non-optimized");
  CHECK(a.ctrl_state == "live");
  const auto gone = sanwatch::read_nvme_path_state(sys, "nvme0c7n1");
  CHECK_FALSE(gone.ana_state);
  CHECK_FALSE(gone.ctrl_state);
}
