// SPDX-License-Identifier: Apache-2.0
// The open-file limit the metrics server needs: every connection it keeps
// open (up to metrics.max_connections) is a descriptor, beside the agent's
// own (devices, canaries, BPF objects, the ledger).
#pragma once

#include <cstdint>

namespace sanwatch {

class EventLog;

// Descriptors the agent keeps for itself beside the metrics connections.
constexpr std::uint64_t kOwnDescriptors = 4096;

// Raises the RLIMIT_NOFILE soft limit to `needed` (never lowers it), up to
// the hard limit; one warning line when the hard limit is lower.
void raise_fd_limit(std::uint64_t needed, EventLog& log);

}  // namespace sanwatch
