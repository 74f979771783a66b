#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for bench/detect.sh, bench/footprint.sh and bench/scale.sh
(stdlib only). Importable (the report code of detect.py, footprint.py and
scale.py uses it) and a small command-line tool for the shell scripts:

  benchlib.py exec-timed FILE CMD [ARG...]
      write CLOCK_MONOTONIC (ns) to FILE, then exec CMD: the agent's
      "process start" for start-up times (exec and dynamic loading included)
  benchlib.py wait-ready LOG --pid PID [--timeout S]
      wait until the agent's JSON log LOG has its "ready" line; print it.
      Exit 1 if PID exits first or on timeout (the log's tail goes to stderr)
  benchlib.py loop-remove INDEX...
      LOOP_CTL_REMOVE on /dev/loop-control for each index (only unbound,
      unopened devices can be removed: the kernel refuses the rest with EBUSY)
  benchlib.py sample --label L --pids PID... --seconds S [--devices NAME...]
                     [--set KEY=VALUE...] --out JSONL
      CPU (utime+stime of every thread, over wall time) and memory (VmRSS,
      VmHWM, Pss, ...) of the processes over S seconds, reads completed on the
      devices meanwhile, the machine's load; one JSON line appended to JSONL
  benchlib.py proc-snapshot PID...
      CPU ticks, memory and per-thread CPU of processes, machine CPU time, as
      JSON (see proc_snapshot())

Results: each benchmark owns the part of RESULTS.md between its
<!-- NAME:begin --> and <!-- NAME:end --> markers; write_section() rewrites
only that part, as stats.write_results() does for "overhead".
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import md_table, med, plain_table, write_section  # noqa: E402,F401  (re-exported)

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def mono_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------- statistics

def pctl(xs, q):
    """Percentile q (0-100) with linear interpolation between order statistics
    (numpy's default). With n samples, p99 lies between the two largest when
    n < 100."""
    xs = sorted(xs)
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * q / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt(x, digits=2, unit=""):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}{unit}"


# ---------------------------------------------------------------- RESULTS.md

def read_meta(path):
    meta = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "\t" in line:
                    k, v = line.split("\t", 1)
                    meta[k] = v
    return meta


def env_table(meta, keys):
    rows = [[k, meta[k]] for k in keys if meta.get(k)]
    return md_table(["", ""], rows, ["l", "l"])


def section_head(section, title, script, meta, quick_note):
    """The lines every RESULTS.md section opens with: its begin marker and
    title, the warning of a --quick run, and the command that generated it."""
    out = [f"<!-- {section}:begin -->", f"## {title} (`{script}`)", ""]
    if meta.get("mode") == "quick":
        out += [f"> **Quick smoke run** (`--quick`): {quick_note}; the figures are not a "
                "measurement.", ""]
    out += [f"Generated {meta.get('date', '?')} by `{meta.get('command', script)}`.", ""]
    return out


def read_jsonl(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def append_jsonl(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# ---------------------------------------------------------------- agent log

class AgentLog:
    """Follows the agent's stderr (one JSON object per line) in a file."""

    def __init__(self, path, from_start=False):
        self.path = path
        self.f = open(path)
        if not from_start:
            self.f.seek(0, os.SEEK_END)
        self.buf = ""

    def lines(self):
        chunk = self.f.read()
        if not chunk:
            return []
        self.buf += chunk
        *done, self.buf = self.buf.split("\n")
        out = []
        for line in done:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a libbpf line, say
        return out

    def wait(self, pred, timeout, poll=0.002):
        """The first object matching pred within timeout seconds, or None."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.lines():
                if pred(ev):
                    return ev
            if time.monotonic() > deadline:
                return None
            time.sleep(poll)

    def wait_state(self, target, to, timeout, after_ns=0):
        return self.wait(lambda e: e.get("event") == "state" and e.get("target") == target
                         and e.get("to") == to and e.get("mono_ns", 0) >= after_ns, timeout)


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# ---------------------------------------------------------------- /proc

def read_stat(pid, tid=None):
    """(comm, utime+stime ticks) of a process (all its threads) or one thread."""
    p = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(p) as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime, stime are fields 14, 15
    return comm, int(rest[11]) + int(rest[12])


def bpf_map_memlock(pid):
    """KiB of BPF maps (memlock, as the kernel charges it) the process holds fds of."""
    total, seen = 0, set()
    d = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(d)
    except OSError:
        return None
    for fd in fds:
        try:
            with open(f"{d}/{fd}") as f:
                info = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if "map_id" in info and "memlock" in info and info["map_id"] not in seen:
            seen.add(info["map_id"])
            total += int(info["memlock"])
    return total // 1024


def read_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads", "VmSize"):
                v = v.split()
                out[k] = int(v[0]) if v else 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    m = bpf_map_memlock(pid)
    if m:
        out["BpfMapMemlock"] = m
    return out


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return {"busy": v[0] + v[1] + v[2] + v[5] + v[6], "steal": v[7], "total": sum(v[:8])}


def proc_snapshot(pids):
    snap = {"t": time.monotonic(), "clk_tck": CLK_TCK, "machine": machine_cpu(),
            "loadavg": open("/proc/loadavg").read().split()[:3], "procs": {}}
    for pid in pids:
        try:
            comm, ticks = read_stat(pid)
            threads, slices = {}, {}
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    tcomm, tt = read_stat(pid, tid)
                    threads[tid] = [tcomm, tt]
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                        slices[tid] = int(f.read().split()[2])  # times scheduled in
                except (OSError, IndexError, ValueError):
                    pass
            snap["procs"][str(pid)] = {"comm": comm, "ticks": ticks, "mem": read_status(pid),
                                       "threads": threads, "slices": slices}
        except OSError:
            snap["procs"][str(pid)] = None
    return snap


def cpu_between(before, after):
    """CPU of the processes of two snapshots, in % of one core, plus the
    machine's busy CPUs and steal over the same window."""
    wall = after["t"] - before["t"]
    hz = before["clk_tck"]
    ticks = slices = 0
    threads = {}
    for pid, b in before["procs"].items():
        a = after["procs"].get(pid)
        if not a or not b:
            continue
        ticks += a["ticks"] - b["ticks"]
        for tid, n in a.get("slices", {}).items():
            slices += n - b.get("slices", {}).get(tid, 0)
        for tid, (tcomm, tt) in a["threads"].items():
            bt = b["threads"].get(tid, [tcomm, 0])[1]
            threads.setdefault(tcomm, 0)
            threads[tcomm] += tt - bt
    if len(before["procs"]) == 1:
        # threads that ended within the window (io_uring workers, say): their
        # time is in the process total but in no live thread's
        gone = ticks - sum(threads.values())
        if gone > 2:  # per-thread and whole-process figures round differently
            threads["(threads that exited)"] = gone
    m0, m1 = before["machine"], after["machine"]
    dt = (m1["total"] - m0["total"]) or 1
    return {"wall_s": wall, "cpu_s": ticks / hz, "cpu_pct": 100.0 * ticks / hz / wall,
            "wakeups_per_s": slices / wall,
            "threads_pct": {k: 100.0 * v / hz / wall for k, v in threads.items()},
            "machine_busy_cpus": (m1["busy"] - m0["busy"]) / hz / wall,
            "steal_pct": 100.0 * (m1["steal"] - m0["steal"]) / dt}


def device_reads(names):
    """Reads completed on the given block devices (/sys/block/NAME/stat)."""
    n = 0
    for name in names:
        try:
            with open(f"/sys/block/{name}/stat") as f:
                n += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return n


def sample(pids, seconds, devices=(), every=1.0):
    """CPU and memory of PIDS over SECONDS (memory polled every EVERY s)."""
    d0 = device_reads(devices)
    before = proc_snapshot(pids)
    peak_rss = 0
    end = before["t"] + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(every, end - now))
        rss = 0
        for pid in pids:
            try:
                rss += read_status(pid).get("VmRSS", 0)
            except OSError:
                pass
        peak_rss = max(peak_rss, rss)
    after = proc_snapshot(pids)
    d1 = device_reads(devices)
    rec = cpu_between(before, after)
    mem = {}
    for p in after["procs"].values():
        if not p:
            continue
        for k, v in p["mem"].items():
            mem[k] = mem.get(k, 0) + v
    rec.update({"pids": len(pids), "alive": sum(1 for p in after["procs"].values() if p),
                "mem_kib": mem, "peak_rss_kib": peak_rss, "device_reads": d1 - d0,
                "loadavg": after["loadavg"]})
    if len(pids) > 1:
        rec.pop("threads_pct", None)
    return rec


def parse_sets(pairs):
    """--set KEY=VALUE ... as a dict: VALUE as JSON where it parses, else text."""
    out = {}
    for kv in pairs:
        k, _, v = kv.partition("=")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def cmd_sample(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="benchlib.py sample")
    ap.add_argument("--label", required=True)
    ap.add_argument("--pids", nargs="+", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--devices", nargs="*", default=[])
    ap.add_argument("--set", nargs="*", default=[], help="KEY=VALUE added to the record")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    rec = {"label": a.label}
    rec.update(parse_sets(a.set))
    rec.update(sample(a.pids, a.seconds, a.devices))
    append_jsonl(a.out, rec)
    m = rec["mem_kib"]
    print(f"  {a.label}: CPU {rec['cpu_pct']:.3f} % of a core over {rec['wall_s']:.1f} s, "
          f"RSS {m.get('VmRSS', 0) / 1024:.1f} MiB (HWM {m.get('VmHWM', 0) / 1024:.1f}, "
          f"PSS {m.get('Pss', 0) / 1024:.1f}), {rec['device_reads']} device reads, "
          f"machine busy {rec['machine_busy_cpus']:.2f} CPUs", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- commands

def cmd_exec_timed(argv):
    if len(argv) < 2:
        sys.exit("usage: benchlib.py exec-timed FILE CMD [ARG...]")
    path, cmd = argv[0], argv[1:]
    for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(s, signal.SIG_DFL)
    t = mono_ns()
    with open(path, "w") as f:
        f.write(f"{t}\n")
    os.execvp(cmd[0], cmd)


def cmd_wait_ready(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="benchlib.py wait-ready")
    ap.add_argument("log")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args(argv)
    deadline = time.monotonic() + a.timeout
    while not os.path.exists(a.log):
        time.sleep(0.01)
    log = AgentLog(a.log, from_start=True)
    while time.monotonic() < deadline:
        for ev in log.lines():
            if ev.get("event") == "log" and ev.get("msg") == "ready":
                print(json.dumps(ev))
                return 0
        if not alive(a.pid):
            print(f"agent (pid {a.pid}) exited before it was ready; log:\n{tail(a.log)}",
                  file=sys.stderr)
            return 1
        time.sleep(0.005)
    print(f"agent (pid {a.pid}) not ready after {a.timeout:.0f} s; log:\n{tail(a.log)}",
          file=sys.stderr)
    return 1


LOOP_CTL_REMOVE = 0x4C81


def cmd_loop_remove(argv):
    """LOOP_CTL_REMOVE, 16 at a time: each removal waits for RCU grace periods
    (~50 ms), one after the other 1024 devices would take a minute."""
    import errno
    import fcntl
    from concurrent.futures import ThreadPoolExecutor

    def remove(idx):
        fd = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for attempt in range(20):
                try:
                    fcntl.ioctl(fd, LOOP_CTL_REMOVE, int(idx))
                    return 0
                except OSError as e:
                    if e.errno == errno.ENODEV:
                        return 0  # already gone
                    if e.errno == errno.EBUSY and attempt < 19:
                        time.sleep(0.05)  # a detach still in progress
                        continue
                    print(f"loop-remove: loop{idx}: {e.strerror}", file=sys.stderr)
                    return 1
        finally:
            os.close(fd)
        return 1

    with ThreadPoolExecutor(16) as ex:
        return 1 if any(ex.map(remove, argv)) else 0


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "exec-timed":
        return cmd_exec_timed(argv)
    if cmd == "wait-ready":
        return cmd_wait_ready(argv)
    if cmd == "loop-remove":
        return cmd_loop_remove(argv)
    if cmd == "sample":
        return cmd_sample(argv)
    if cmd == "proc-snapshot":
        print(json.dumps(proc_snapshot([int(p) for p in argv])))
        return 0
    print(f"benchlib.py: unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
