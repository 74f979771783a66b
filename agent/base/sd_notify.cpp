// SPDX-License-Identifier: Apache-2.0
#include "base/sd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>

#include "base/clock.h"

namespace sanwatch {
namespace {

// A newline would start a new assignment in the datagram.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

SystemdNotifier SystemdNotifier::from_env() {
  SystemdNotifier n;
  const char* sock = std::getenv("NOTIFY_SOCKET");
  n.active_ = sock != nullptr && *sock != '\0';
  std::uint64_t usec = 0;
  // > 0 only if WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us.
  if (n.active_ && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) n.watchdog_usec_ = usec;
  return n;
}

bool SystemdNotifier::send(const std::string& message) const {
  if (!active_) return true;
  const int rc = sd_notify(0, message.c_str());
  if (rc > 0) return true;
  if (last_error_.empty()) {
    const std::string what = message.substr(0, message.find('\n'));
    last_error_ = "sd_notify(" + what + "): " +
                  (rc < 0 ? std::strerror(-rc) : "NOTIFY_SOCKET vanished from the environment");
  }
  return false;
}

bool SystemdNotifier::ready(const std::string& status) const {
  return send("READY=1\nSTATUS=" + one_line(status));
}

bool SystemdNotifier::status(const std::string& s) const { return send("STATUS=" + one_line(s)); }

bool SystemdNotifier::reloading() const {
  // MONOTONIC_USEC is what Type=notify-reload (systemd >= 253) requires with
  // RELOADING=1; older managers ignore the field.
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_ns() / 1000));
}

bool SystemdNotifier::stopping() const { return send("STOPPING=1"); }

bool SystemdNotifier::watchdog() const { return send("WATCHDOG=1"); }

std::optional<std::uint64_t> SystemdNotifier::watchdog_interval_ns() const {
  if (watchdog_usec_ == 0) return std::nullopt;
  return watchdog_usec_ * 1000 / 2;
}

}  // namespace sanwatch
