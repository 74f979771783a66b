// SPDX-License-Identifier: Apache-2.0
// The exec hook alert sink: its environment, stdin, timeout kill and
// concurrency limit. No root needed.
#include "exporters/exec_hook.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "alerts_test_util.h"
#include "exporters/alerts.h"

using namespace std::chrono_literals;
using namespace alerts_test;
using sanwatch::AlertSettings;

namespace {

// Exited: no such process, or a zombie its (new) parent has not reaped yet.
bool dead(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && stat.substr(paren + 2, 1) == "Z");
}

// CPU time (user + system) this process has used, in s.
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

// ---------------------------------------------------------------------------
// Exec hook.

TEST_CASE("alerts: exec hook environment names the transition") {
  auto env = sanwatch::hook_environment(event("sdb", "path", "ok", "failed", "t1"));
  CHECK(env == std::vector<std::string>{"SANWATCH_TARGET=sdb", "SANWATCH_TARGET_TYPE=path",
                                        "SANWATCH_FROM=ok", "SANWATCH_TO=failed",
                                        "SANWATCH_REASON=it happened", "SANWATCH_EVENT_TS=t1"});
}

TEST_CASE("alerts: the exec hook gets the event on stdin and SANWATCH_ variables") {
  TempDir dir;
  FileLog log;
  AlertSettings s;
  const std::string out = dir.path + "/event";
  s.exec_command = {
      "/bin/sh", "-c",
      "cat > \"$1.tmp\"; env > \"$1.env\"; grep ^Cap /proc/self/status > \"$1.caps\"; "
      "mv \"$1.tmp\" \"$1\"",
      "hook", out};
  setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);  // the agent's, never the hook's
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  const auto ev = event("sdb", "path", "ok", "failed");
  d->on_event(ev);
  REQUIRE(eventually([&] { return d->stats().back().delivered == 1; }));
  CHECK(nlohmann::ordered_json::parse(slurp(out)) == sanwatch::state_json(ev));
  const std::string env = slurp(out + ".env");
  for (const auto& v : sanwatch::hook_environment(ev))
    CHECK(env.find(v + "\n") != std::string::npos);
  // A clean environment: PATH, the SANWATCH_* variables, and PWD, which
  // the shell sets itself.
  std::istringstream lines(env);
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK((line.starts_with("SANWATCH_") || line.starts_with("PATH=") || line.starts_with("PWD=")));
  }
  unsetenv("NOTIFY_SOCKET");
  // No capabilities, also when the agent has some: ambient ones (the unit's
  // AmbientCapabilities=) are cleared on the hook's thread, and run as root
  // the hook gains none at exec (SECBIT_NOROOT, empty bounding set).
  const std::string caps = slurp(out + ".caps");
  INFO(caps);
  CHECK(caps.find("CapInh:\t0000000000000000") != std::string::npos);
  CHECK(caps.find("CapPrm:\t0000000000000000") != std::string::npos);
  CHECK(caps.find("CapEff:\t0000000000000000") != std::string::npos);
  CHECK(caps.find("CapAmb:\t0000000000000000") != std::string::npos);
  if (geteuid() == 0) CHECK(caps.find("CapBnd:\t0000000000000000") != std::string::npos);
  CHECK(d->stats().back().sink == "exec");
}

TEST_CASE("alerts: an exec hook over its timeout is killed with its group and reaped") {
  TempDir dir;
  FileLog log;
  AlertSettings s;
  s.exec_timeout = 200ms;
  const std::string pidfile = dir.path + "/pid";
  // The shell forks sleep (not exec): the kill must reach the whole group.
  s.exec_command = {"/bin/sh", "-c", "sleep 60 & echo $$ $! > \"$1\"; wait", "hook", pidfile};
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  const auto start = std::chrono::steady_clock::now();
  d->on_event(event("loop3", "device", "ok", "stalled"));
  REQUIRE(eventually([&] { return d->stats().back().failed == 1; }));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 190ms);
  CHECK(took < 2s);
  pid_t shell = 0, sleeper = 0;
  std::ifstream(pidfile) >> shell >> sleeper;
  REQUIRE(sleeper > 0);
  CHECK(eventually([&] { return kill(shell, 0) != 0; }));  // gone, not even a zombie: reaped
  CHECK(eventually([&] { return dead(sleeper); }));
  CHECK(eventually(
      [&] { return log.text().find("exec hook killed at its timeout") != std::string::npos; }));
}

TEST_CASE("alerts: exec hooks run at most max_concurrent at once, overflow is counted") {
  TempDir dir;
  FileLog log;
  AlertSettings s;
  s.exec_max_concurrent = 1;
  s.queue = 2;
  // mkdir is atomic: it fails if another run holds the directory.
  s.exec_command = {"/bin/sh", "-c",
                    "mkdir \"$1/lock\" || echo overlap >> \"$1/bad\"; sleep 0.1; rmdir \"$1/lock\"",
                    "hook", dir.path};
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  for (int i = 0; i < 6; ++i)
    d->on_event(event("loop" + std::to_string(i), "device", "ok", "slow"));
  REQUIRE(eventually([&] {
    auto st = d->stats().back();
    return st.queued == 0 && st.delivered + st.failed + st.dropped == 6;
  }));
  const auto st = d->stats().back();
  CHECK(st.failed == 0);
  CHECK(st.dropped >= 3);
  CHECK(st.delivered >= 2);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/bad"));
  // A command that does not exist fails cleanly.
  s.exec_command = {"/nonexistent/hook"};
  d->reconfigure(s);
  d->on_event(event("loop9", "device", "ok", "slow"));
  REQUIRE(eventually([&] { return d->stats().back().failed == 1; }));
  CHECK(eventually(
      [&] { return log.text().find("exec hook could not start") != std::string::npos; }));
}

TEST_CASE("alerts: a hook flooding its output is killed on time and costs the agent little CPU") {
  FileLog log;
  AlertSettings s;
  s.exec_timeout = 1s;
  // A verbose hook still finishes: 256 KiB of output, then exit 0.
  s.exec_command = {"/bin/sh", "-c", "head -c 262144 /dev/zero"};
  auto d = sanwatch::make_alert_dispatcher(s, log.log);
  d->on_event(event("loop3", "device", "ok", "slow"));
  REQUIRE(eventually([&] { return d->stats().back().delivered == 1; }));
  // One that never stops: killed at its timeout, while this process (the
  // hook's thread drains the pipe) uses a fraction of the time.
  s.exec_command = {"yes", "flood"};
  d->reconfigure(s);
  const double cpu0 = process_cpu_s();
  d->on_event(event("loop3", "device", "slow", "stalled"));
  REQUIRE(eventually([&] { return d->stats().back().failed == 1; }, 5s));
  const double cpu = process_cpu_s() - cpu0;
  WARN("hook thread CPU over a 1 s flood: " << cpu << " s");
  CHECK(cpu < 0.1);
  // The failure is counted just before its log line is written.
  CHECK(eventually(
      [&] { return log.text().find("exec hook killed at its timeout") != std::string::npos; }));
}
