// SPDX-License-Identifier: Apache-2.0
#include "cli/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "detect/event_log.h"

namespace sanwatch {

void raise_fd_limit(std::uint64_t needed, EventLog& log) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= needed) return;
  const rlim_t want = lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= needed
                          ? static_cast<rlim_t>(needed)
                          : lim.rlim_max;
  rlimit next{want, lim.rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &next) != 0) {
    log.warn(
        std::string("cannot raise the open-file limit (setrlimit: ") + std::strerror(errno) + ")",
        {{"soft", lim.rlim_cur}, {"needed", needed}});
    return;
  }
  // Past the limit accept() fails with EMFILE: connections wait in the
  // listen queue instead of being refused and counted.
  if (want < needed)
    log.warn(
        "open-file hard limit is below what metrics.max_connections needs (LimitNOFILE= in the "
        "unit); the metrics server may run out of descriptors before its connection limit",
        {{"hard", lim.rlim_max}, {"needed", needed}});
}

}  // namespace sanwatch
