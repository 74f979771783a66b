// SPDX-License-Identifier: Apache-2.0
#include "detect/impairment.h"

namespace sanwatch {

void ImpairmentClock::completed(std::uint64_t start_ns, std::uint64_t end_ns, bool hard,
                                bool slow) {
  cur_.max_latency_ns = std::max(cur_.max_latency_ns, end_ns - std::min(start_ns, end_ns));
  if (hard) cur_.hard.add(start_ns, end_ns);
  if (hard || slow) cur_.slow.add(start_ns, end_ns);
}

void ImpairmentClock::failed_io(std::uint64_t start_ns, std::uint64_t end_ns) {
  cur_.hard.add(start_ns, end_ns);
}

void ImpairmentClock::errors_counted(std::uint64_t now, std::uint64_t n) {
  cur_.errors += n;
  // Error events give the spans; counted errors whose events were all lost
  // still mark the moment they were counted.
  if (cur_.hard.empty()) cur_.hard.add(now, now);
}

void ImpairmentClock::failed_canary(std::uint64_t start_ns, std::uint64_t end_ns) {
  cur_.hard.add(start_ns, end_ns);
  ++cur_.canary_failures;
}

void ImpairmentClock::outstanding(std::uint64_t now, std::uint64_t start_ns, bool stalled,
                                  std::uint64_t threshold_ns) {
  stall_seen_ = stalled;
  if (!stalled || start_ns == 0 || now < start_ns) return;
  cur_.peak_oldest_ns = std::max(cur_.peak_oldest_ns, now - start_ns);
  if (!cur_.stall_crossed_ns) cur_.stall_crossed_ns = start_ns + threshold_ns;
  cur_.hard.add(start_ns, now);
}

void ImpairmentClock::lasting(std::uint64_t now, Lasting what, bool on) {
  std::uint64_t& since = on_since_[static_cast<int>(what)];
  if (on && !since) {
    since = now ? now : 1;
    cur_.hard.add(since, now);
  } else if (!on && since) {
    cur_.hard.add(since, now);
    since = 0;
  }
}

Impairment ImpairmentClock::current(std::uint64_t now) const {
  Impairment i = cur_;
  i.ongoing = stall_seen_;
  for (std::uint64_t since : on_since_) {
    if (!since) continue;
    i.hard.add(since, now);
    i.ongoing = true;
  }
  return i;
}

void ImpairmentClock::reset(std::uint64_t now) {
  cur_ = Impairment{};
  // A condition still on (a path failed while its map recovers) opens the
  // next episode from now on, not from its old start.
  for (std::uint64_t& since : on_since_)
    if (since) since = now;
}

void ImpairmentClock::expire(std::uint64_t now, std::uint64_t horizon) {
  for (std::uint64_t since : on_since_)
    if (since) return;
  if (stall_seen_ || cur_.empty()) return;
  const std::uint64_t last = std::max(cur_.hard.end_ns, cur_.slow.end_ns);
  if (now > last && now - last > horizon) cur_ = Impairment{};
}

}  // namespace sanwatch
