#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Plays systemd for `sanwatch run`: a NOTIFY_SOCKET datagram listener plus
WATCHDOG_USEC/WATCHDOG_PID, and checks what a Type=notify unit with
WatchdogSec= relies on.

    notify_harness.py --device loop3 [--freeze] [--check CHECK] -- COMMAND...

COMMAND is the agent command line (the test wraps it in setpriv with the
unit's user, groups and capabilities). Two runs:

  1. READY=1 (with STATUS=) arrives from the main PID after the "ready" log
     line; WATCHDOG=1 repeats every WATCHDOG_USEC/2; /metrics is served and
     sanwatch_canary_reads_total for DEVICE grows past 0; SIGHUP gives
     RELOADING=1 then READY=1. With --check, CHECK (a program) runs with
     the agent's pid and "ready", again with "reload" after the reload's
     READY=1, and must exit 0 both times. With --freeze
     (SANWATCH_TEST_FREEZE_SIGNAL=1), SIGUSR2 hangs the event loop and the
     WATCHDOG=1 pings must stop.
  2. SIGTERM gives STOPPING=1 and exit status 0.

Exit status 0 when every check passed, 1 otherwise (the reason is printed).
"""

import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

WATCHDOG_USEC = 2_000_000  # pings every 1 s
PING_S = WATCHDOG_USEC / 2 / 1e6

SNIPPET_HINT = ("agent/cli/run_cmd.cpp does not contain the sd_notify/freeze snippet yet "
                "(see agent/base/sd_notify.h and the packaging hand-over): paste it and rebuild")


class Failure(Exception):
    pass


def log(msg):
    print(f"[harness {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Agent:
    """One agent process with its own notify socket and stderr reader."""

    def __init__(self, cmd, extra_env):
        self.dir = tempfile.mkdtemp(prefix="sanwatch-notify-")
        os.chmod(self.dir, 0o755)  # the agent runs as another user
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (monotonic time, sender pid, {key: value})
        self.lines = []  # parsed JSON lines from stderr
        self.lock = threading.Lock()
        env = dict(os.environ)
        env.update(extra_env)
        env["NOTIFY_SOCKET"] = self.path
        env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
        # systemd also sets WATCHDOG_PID; the shell exec()s, so $$ is the agent.
        wrapped = ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"] + cmd
        self.proc = subprocess.Popen(wrapped, env=env, stdin=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_socket, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_socket(self):
        ucred_size = struct.calcsize("3i")
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(ucred_size))
            except OSError:
                return
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:ucred_size])[0]
            fields = {}
            for line in data.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.lock:
                self.messages.append((time.monotonic(), pid, fields))
            log(f"notify from pid {pid}: {data.decode(errors='replace')!r}")

    def _read_stderr(self):
        for raw in self.proc.stderr:
            raw = raw.rstrip("\n")
            print(f"    agent: {raw}", flush=True)
            try:
                j = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                self.lines.append((time.monotonic(), j))

    def wait_for(self, what, pred, timeout, source="notify"):
        """First entry (after any earlier ones consumed by the caller) matching pred."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                items = list(self.messages if source == "notify" else self.lines)
            for item in items:
                if pred(item):
                    return item
            if self.proc.poll() is not None:
                raise Failure(f"agent exited with status {self.proc.returncode} "
                              f"while waiting for {what}")
            time.sleep(0.05)
        return None

    def log_line(self, pred, timeout):
        return self.wait_for("log line", lambda it: pred(it[1]), timeout, source="stderr")

    def notify(self, key, value, after, timeout):
        return self.wait_for(f"{key}={value}",
                             lambda it: it[0] >= after and it[2].get(key) == value, timeout)

    def pings(self, since, until=None):
        with self.lock:
            return [t for t, _, f in self.messages
                    if f.get("WATCHDOG") == "1" and t >= since and (until is None or t <= until)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


def metric_value(text, name, target):
    pat = re.compile(r"^" + re.escape(name) + r"\{([^}]*)\}\s+(\S+)$")
    for line in text.splitlines():
        m = pat.match(line)
        if m and f'target="{target}"' in m.group(1):
            return float(m.group(2))
    return None


def check_main_pid(agent, item, what):
    _, pid, _ = item
    if pid != agent.proc.pid:
        raise Failure(f"{what} came from pid {pid}, not the main pid {agent.proc.pid} "
                      "(NotifyAccess=main would drop it)")


def wait_ready(agent):
    start = time.monotonic()
    ready_line = agent.log_line(lambda j: j.get("msg") == "ready", 30)
    if ready_line is None:
        errors = [j.get("msg", "") for _, j in agent.lines if j.get("level") == "error"]
        raise Failure("no \"ready\" log line within 30 s" +
                      (f"; errors: {errors}" if errors else ""))
    item = agent.notify("READY", "1", start, 5)
    if item is None:
        raise Failure("the agent logged \"ready\" but sent no READY=1 on NOTIFY_SOCKET: "
                      + SNIPPET_HINT)
    check_main_pid(agent, item, "READY=1")
    if not item[2].get("STATUS"):
        raise Failure("READY=1 came without a STATUS= line")
    log(f"READY=1 ok, STATUS={item[2]['STATUS']!r}")
    return ready_line[1]


def run_check(check, agent, phase):
    """The caller's check of the live agent (privileges, files) at PHASE."""
    if not check:
        return
    r = subprocess.run([check, str(agent.proc.pid), phase], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    for line in r.stdout.splitlines():
        log(f"check ({phase}): {line}")
    if r.returncode != 0:
        raise Failure(f"{check} {agent.proc.pid} {phase}: exit status {r.returncode}")


def run_checks(cmd, device, freeze, check=None):
    env = {"SANWATCH_TEST_FREEZE_SIGNAL": "1"} if freeze else {}
    agent = Agent(cmd, env)
    try:
        ready = wait_ready(agent)
        t_ready = time.monotonic()
        run_check(check, agent, "ready")

        # Watchdog pings from the event loop.
        time.sleep(3.5 * PING_S)
        pings = agent.pings(t_ready - 0.5)
        if len(pings) < 3:
            raise Failure(f"{len(pings)} WATCHDOG=1 within {3.5 * PING_S:.1f} s "
                          f"(WATCHDOG_USEC={WATCHDOG_USEC}: expected one every {PING_S:.1f} s)")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        if max(gaps) > 1.5 * PING_S + 0.25:
            raise Failure(f"WATCHDOG=1 gaps {gaps} exceed {PING_S:.1f} s")
        log(f"WATCHDOG=1 ok: {len(pings)} pings, gaps {[round(g, 3) for g in gaps]}")

        # Metrics served, canaries reading the device.
        url = f"http://{ready['metrics'].replace('0.0.0.0', '127.0.0.1')}/metrics"
        reads = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as r:
                text = r.read().decode()
            reads = metric_value(text, "sanwatch_canary_reads_total", device)
            if reads:
                break
            time.sleep(0.5)
        if not reads:
            warns = [j.get("msg") for _, j in agent.lines if j.get("level") in ("warn", "error")]
            raise Failure(f"sanwatch_canary_reads_total{{target=\"{device}\"}} is {reads} "
                          f"on {url}; agent warnings: {warns}")
        errs = metric_value(text, "sanwatch_canary_errors_total", device)
        if errs:
            raise Failure(f"sanwatch_canary_errors_total{{target=\"{device}\"}} = {errs}")
        log(f"metrics ok: {url} sanwatch_canary_reads_total{{target=\"{device}\"}} = {reads:g}")

        # SIGHUP: RELOADING=1, then READY=1 again.
        t_hup = time.monotonic()
        agent.proc.send_signal(signal.SIGHUP)
        rel = agent.notify("RELOADING", "1", t_hup, 5)
        if rel is None:
            raise Failure("SIGHUP: no RELOADING=1 within 5 s: " + SNIPPET_HINT)
        again = agent.notify("READY", "1", rel[0], 5)
        if again is None:
            raise Failure("SIGHUP: RELOADING=1 but no READY=1 after it within 5 s")
        log("SIGHUP ok: RELOADING=1 then READY=1")
        run_check(check, agent, "reload")

        if freeze:
            t_usr2 = time.monotonic()
            agent.proc.send_signal(signal.SIGUSR2)
            frozen = agent.log_line(lambda j: "freez" in str(j.get("msg", "")).lower(), 5)
            if frozen is None:
                raise Failure("SIGUSR2 with SANWATCH_TEST_FREEZE_SIGNAL=1: no freeze log line: "
                              + SNIPPET_HINT)
            time.sleep(0.2)
            t_quiet = time.monotonic()
            time.sleep(3 * PING_S + 0.5)
            if agent.proc.poll() is not None:
                raise Failure(f"frozen agent exited (status {agent.proc.returncode})")
            late = agent.pings(t_quiet)
            if late:
                raise Failure(f"{len(late)} WATCHDOG=1 after the event loop froze: "
                              "the pings do not come from the event loop")
            before = agent.pings(t_usr2 - 2 * PING_S, t_usr2)
            log(f"freeze ok: {len(before)} pings in the {2 * PING_S:.0f} s before SIGUSR2, "
                f"none in the {3 * PING_S + 0.5:.1f} s after")
    finally:
        agent.close()

    # A second run: clean stop.
    agent = Agent(cmd, {})
    try:
        wait_ready(agent)
        t_term = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        try:
            rc = agent.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise Failure("SIGTERM: the agent did not exit within 15 s")
        time.sleep(0.2)  # let the reader thread take the last datagram
        if agent.notify("STOPPING", "1", t_term, 0.5) is None:
            raise Failure("SIGTERM: no STOPPING=1: " + SNIPPET_HINT)
        if rc != 0:
            raise Failure(f"SIGTERM: exit status {rc}, expected 0")
        log("SIGTERM ok: STOPPING=1, exit status 0")
    finally:
        agent.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", required=True, help="canary target that must be read")
    ap.add_argument("--freeze", action="store_true",
                    help="check that SIGUSR2 (SANWATCH_TEST_FREEZE_SIGNAL=1) stops the pings")
    ap.add_argument("--check", help="program run as CHECK PID PHASE after start and reload")
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args()
    try:
        run_checks(a.cmd, a.device, a.freeze, a.check)
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    print("PASS: sd_notify protocol, watchdog, metrics, canaries, reload, stop", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
