// SPDX-License-Identifier: Apache-2.0
// sanwatch-bpf-floor: loads bench/tools/floor.bpf.c (one program, one clock
// read per completed block request) and keeps it attached until SIGINT or
// SIGTERM. A reference configuration of bench/run.sh, not part of the agent.
#include <signal.h>

#include <cstdio>
#include <memory>

#include "floor.skel.h"

namespace {

struct SkelFree {
  void operator()(floor_bpf* s) const { floor_bpf__destroy(s); }
};

}  // namespace

int main() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  std::unique_ptr<floor_bpf, SkelFree> skel(floor_bpf__open_and_load());
  if (!skel) {
    std::perror("sanwatch-bpf-floor: loading the program");
    return 1;
  }
  if (floor_bpf__attach(skel.get()) != 0) {
    std::perror("sanwatch-bpf-floor: attaching to block_rq_complete");
    return 1;
  }
  std::fprintf(stderr, "Tracing block_rq_complete (one clock read per I/O)... Ctrl-C to stop\n");
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
