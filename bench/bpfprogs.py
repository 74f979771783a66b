#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""BPF-program bookkeeping for bench/run.sh (stdlib only; shells out to bpftool).

A tracer's programs are the ones its process holds: every bpf-prog and
bpf-link file descriptor in /proc/PID/fdinfo names a prog_id. A program is
attached when a link (tp_btf/raw_tp/fentry, held by the process) or a perf
event (classic tracepoints/kprobes, as bpftrace uses; listed by
`bpftool perf show`) points at it. Identifying programs by the process that
holds them, not by "what appeared since", keeps other people's BPF programs
on a shared machine out of the figures.

Subcommands (all print JSON on stdout):
  wait-attached PID --min N --timeout S
      wait until PID holds >= N programs, all of them attached, unchanged for
      three polls; prints {"ids": [...], "names": {...}, "attach_s": ...}.
      Exit 1 on timeout or if PID exits.
  snapshot [--pid PID] [ID...]
      run_time_ns/run_cnt of the given programs, the names of all other
      (foreign) programs loaded right now, PID's CPU time, and the machine's
      and every process's CPU time (to tell how busy the machine was).
  wait-gone --timeout S ID...
      wait until none of the programs exists any more; prints the stragglers,
      exit 1 if some remain.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time


def bpftool_json(*args):
    out = subprocess.run(["bpftool", *args, "--json"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return json.loads(out or b"[]")


def held_prog_ids(pid):
    """(prog ids held through prog or link fds, prog ids attached via a link fd)."""
    held, linked = set(), set()
    d = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(d)
    except FileNotFoundError:
        return None, None
    for fd in fds:
        try:
            with open(f"{d}/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        prog = link = None
        for line in text.splitlines():
            key, _, val = line.partition(":")
            if key == "prog_id":
                prog = int(val)
            elif key == "link_id":
                link = int(val)
        if prog is not None:
            held.add(prog)
            if link is not None:
                linked.add(prog)
    return held, linked


def perf_attached(pid):
    try:
        return {e["prog_id"] for e in bpftool_json("perf", "show") if e.get("pid") == pid}
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return set()


def prog_table():
    return {p["id"]: p for p in bpftool_json("prog", "show")}


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def cmd_wait_attached(a):
    t0 = time.monotonic()
    stable, last = 0, None
    while time.monotonic() - t0 < a.timeout:
        held, linked = held_prog_ids(a.pid)
        if held is None:
            print(json.dumps({"error": f"process {a.pid} exited before attaching"}))
            return 1
        attached = linked | (perf_attached(a.pid) if held - linked else set())
        ready = len(held) >= a.min and held <= attached
        if ready and held == last:
            stable += 1
        else:
            stable = 0
        last = held if ready else None
        if stable >= 2:
            names = {str(i): p.get("name", "?") for i, p in prog_table().items() if i in held}
            print(json.dumps({"ids": sorted(held), "names": names,
                              "attach_s": round(time.monotonic() - t0, 3)}))
            return 0
        time.sleep(0.1)
    print(json.dumps({"error": f"timeout after {a.timeout}s: holds {sorted(last or held)}"}))
    return 1


PF_KTHREAD = 0x00200000


def processes():
    """{pid: [comm, utime+stime ticks, is_kernel_thread]} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.find("(") + 1:text.rfind(")")]
        fields = text[text.rfind(")") + 2:].split()
        try:
            out[d] = [comm, int(fields[11]) + int(fields[12]),
                      bool(int(fields[6]) & PF_KTHREAD)]
        except (IndexError, ValueError):
            continue
    return out


def children_ticks(pid):
    """cutime + cstime of pid: the CPU of its children it has reaped, every
    thread included (fio's io_uring workers, which fio's own usr/sys omit)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[13]) + int(fields[14])
    except (OSError, IndexError, ValueError):
        return None


def cpu_line():
    """Aggregate /proc/stat cpu jiffies: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def cmd_snapshot(a):
    ids = set(a.ids)
    table = prog_table()
    progs = {}
    for i in sorted(ids):
        p = table.get(i)
        if p is None:
            progs[str(i)] = None
            continue
        progs[str(i)] = {"name": p.get("name", "?"),
                         "run_time_ns": p.get("run_time_ns", 0),
                         "run_cnt": p.get("run_cnt", 0)}
    foreign = sorted(f'{p.get("type", "?")}:{p.get("name", "?")}'
                     for i, p in table.items() if i not in ids)
    out = {"t": time.monotonic(), "progs": progs, "foreign": foreign,
           "clk_tck": os.sysconf("SC_CLK_TCK"), "cpu": cpu_line(), "procs": processes(),
           "self": os.getpid(), "parent_children_ticks": children_ticks(os.getppid())}
    if a.pid:
        out["pid"] = a.pid
        out["cpu_ticks"] = cpu_ticks(a.pid)
    print(json.dumps(out))
    return 0


def cmd_wait_gone(a):
    t0 = time.monotonic()
    left = set(a.ids)
    while True:
        left = set(a.ids) & set(prog_table())
        if not left or time.monotonic() - t0 >= a.timeout:
            break
        time.sleep(0.1)
    print(json.dumps({"remaining": sorted(left), "gone_s": round(time.monotonic() - t0, 3)}))
    return 1 if left else 0


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die quietly, run.sh cleans up
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait-attached")
    w.add_argument("pid", type=int)
    w.add_argument("--min", type=int, default=1)
    w.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("snapshot")
    s.add_argument("--pid", type=int)
    s.add_argument("ids", type=int, nargs="*")
    g = sub.add_parser("wait-gone")
    g.add_argument("--timeout", type=float, default=10)
    g.add_argument("ids", type=int, nargs="*")
    a = ap.parse_args()
    return {"wait-attached": cmd_wait_attached, "snapshot": cmd_snapshot,
            "wait-gone": cmd_wait_gone}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
