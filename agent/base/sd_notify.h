// SPDX-License-Identifier: Apache-2.0
// systemd service notifications (sd_notify(3)), through libsystemd.
//
// The agent runs as a Type=notify service with WatchdogSec=: it says READY=1
// once BPF is attached and the first topology/canary round is done, keeps a
// STATUS= line saying what it watches, pings WATCHDOG=1 from an event-loop
// timer (a stuck loop stops the pings and systemd restarts the agent), wraps
// SIGHUP reloads in RELOADING=1 ... READY=1 and says STOPPING=1 on the way
// out. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
//
// A plain value: no socket is held (sd_notify opens one per message). Meant
// for the event-loop thread (last_error() is not synchronised).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sanwatch {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID. The environment is
  // left as it is (unsetenv is not thread-safe, and sd_notify reads
  // NOTIFY_SOCKET on every call); children such as exec hooks inherit it,
  // and NotifyAccess=main makes systemd ignore anything they send.
  static SystemdNotifier from_env();

  // True when a service manager listens (NOTIFY_SOCKET is set).
  bool active() const { return active_; }

  // Each returns false only when a message could not be sent (the first
  // failure is kept in last_error()); inactive, they do nothing and return true.
  bool ready(const std::string& status) const;  // READY=1 + STATUS=
  bool status(const std::string& s) const;      // STATUS=
  bool reloading() const;                       // RELOADING=1 + MONOTONIC_USEC=
  bool stopping() const;                        // STOPPING=1
  bool watchdog() const;                        // WATCHDOG=1

  // How often to send WATCHDOG=1: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
  // recommends. nullopt when the manager asked for no watchdog (or for
  // another process: WATCHDOG_PID names someone else).
  std::optional<std::uint64_t> watchdog_interval_ns() const;

  // "sd_notify(WATCHDOG=1): Connection refused", or empty.
  const std::string& last_error() const { return last_error_; }

 private:
  bool send(const std::string& message) const;

  bool active_ = false;
  std::uint64_t watchdog_usec_ = 0;
  mutable std::string last_error_;
};

}  // namespace sanwatch
