// SPDX-License-Identifier: Apache-2.0
// Daemon-wide state of sanwatch-faultdisk, shared by the FUSE operations
// (fuse_ops.cpp) and the command line, signal handling and main
// (faultdisk.cpp).
#pragma once

// FUSE_USE_VERSION comes from CMake: 312 when libfuse >= 3.12 so that
// fuse_loop_cfg_set_max_threads() exists (the 3.5 API caps the loop at 10
// threads, which would leave no thread to serve "release" once 10 requests are
// held by a stall).
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif

#include <fuse.h>
#include <time.h>

#include <cstdint>
#include <string>

#include "fault_state.h"

namespace faultdisk {

void log_line(const std::string& msg);

// ---------------------------------------------------------------------------
// Daemon-wide state

struct Config {
  std::string mountpoint;
  std::uint64_t size_mib = 64;
  unsigned max_background = 256;
  // More threads than max_background so that ctl requests (which are not
  // background requests) always find a free thread while I/O is held.
  unsigned max_threads = 320;
  bool exit_with_parent = false;
};

struct Daemon {
  Config cfg;
  timespec started{};
  std::uint64_t size_bytes = 0;
  char* data = nullptr;
  FaultState faults;
};

extern Daemon* g_daemon;

inline Daemon& self() { return *g_daemon; }

// The FUSE operations on / (disk and ctl), in fuse_ops.cpp.
fuse_operations make_operations();

}  // namespace faultdisk
