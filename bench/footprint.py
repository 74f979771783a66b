#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Report for bench/footprint.sh (stdlib only).

  footprint.py report --samples JSONL --meta META --results RESULTS.md
      rewrites the <!-- footprint:begin --> ... <!-- footprint:end --> section
"""
import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SECTION = "footprint"
GOAL_RSS_MB = 20.0      # 20 MB = 20e6 bytes
GOAL_CPU_PCT = 0.5


def mib(kib):
    return None if kib is None else kib / 1024


def report(a):
    samples = bl.read_jsonl(a.samples)
    meta = bl.read_meta(a.meta)
    head = ["configuration", "processes", "CPU % of a core", "CPU µs per probe", "wakeups/s",
            "VmRSS MiB",
            "VmHWM MiB", "PSS MiB", "RssAnon MiB", "RssFile MiB", "BPF maps MiB",
            "probes/s (device reads)",
            "verdict"]
    rows = []
    sw = None
    for s in samples:
        m = s["mem_kib"]
        probes = s["device_reads"] / s["wall_s"]
        expected = s.get("devices", 0) * 1000 / s.get("period_ms", 1000)
        per_probe = s["cpu_s"] / s["device_reads"] * 1e6 if s["device_reads"] else None
        verdict = ""
        if s["label"] == "sanwatch" and sw is None:
            sw = s
            rss_mb = max(m.get("VmRSS", 0), s.get("peak_rss_kib", 0)) * 1024 / 1e6
            hwm_mb = m.get("VmHWM", 0) * 1024 / 1e6
            ok = lambda x: "met" if x else "**MISSED**"  # noqa: E731
            verdict = (f"RSS {ok(rss_mb <= GOAL_RSS_MB)} ({rss_mb:.1f} MB ≤ 20 MB), "
                       f"peak {ok(hwm_mb <= GOAL_RSS_MB)} ({hwm_mb:.1f} MB), "
                       f"CPU {ok(s['cpu_pct'] <= GOAL_CPU_PCT)} (≤ 0.5 %)")
        rows.append([s["label"], s["pids"], f"{s['cpu_pct']:.3f}",
                     bl.fmt(per_probe, 1), bl.fmt(s.get("wakeups_per_s"), 0),
                     bl.fmt(mib(m.get("VmRSS")), 1),
                     bl.fmt(mib(m.get("VmHWM")), 1), bl.fmt(mib(m.get("Pss")), 1),
                     bl.fmt(mib(m.get("RssAnon")), 1), bl.fmt(mib(m.get("RssFile")), 1),
                     bl.fmt(mib(m.get("BpfMapMemlock")), 1),
                     f"{probes:,.0f} of {expected:,.0f}", verdict])
    out = bl.section_head(SECTION, "Footprint", "bench/footprint.sh", meta,
                          "a few devices for a few seconds")
    out += ["### Environment", "", bl.env_table(meta, [
        "date", "nproc", "memory", "cpu", "virt", "kernel", "sanwatch", "load_at_start",
        "devices", "sanwatch_config", "ioping", "window"]), ""]
    out += ["### Summary", "",
            "CPU % = (utime + stime) of every thread of the process(es), exited ones "
            "included (`/proc/PID/stat`), over the window's wall time. Kernel work done "
            "elsewhere on the probes' behalf (the loop devices' workers, block-layer "
            "completions, BPF programs run in other contexts) is in neither figure. "
            "VmRSS / RssAnon / RssFile / Pss at the end of the window (`/proc/PID/status`, "
            "`smaps_rollup`), VmHWM = peak; for ioping the sum over its processes (their "
            "shared libc pages counted once per process in RSS, shared out in PSS). "
            "BPF maps = kernel memory of the agent's BPF maps (`memlock` in the map fds' "
            "fdinfo), not part of RSS. "
            "probes/s = reads completed on the devices (`/sys/block/*/stat`) per second, "
            "against devices × 1/period. wakeups/s = times the process's threads were scheduled "
            "in (`/proc/PID/task/*/schedstat`) per second. \"after a 0.5 s pause\" is the "
            "same agent after a 0.5 s SIGSTOP that made every target late: the canaries of "
            "one period probe together, on multiples of it, and must fall back into that "
            "rhythm (see Observations). "
            "Goal for sanwatch: ≤ 20 MB RSS, ≤ 0.5 % of a core.",
            "", bl.md_table(head, rows, list("lrrrrrrrrrrrl")), ""]
    if sw and sw.get("threads_pct"):
        th = sorted(sw["threads_pct"].items(), key=lambda kv: -kv[1])
        out += ["### sanwatch by thread", "",
                "CPU % of a core per thread name (threads of the same name summed).", "",
                bl.md_table(["thread", "CPU %"], [[f"`{k}`", f"{v:.3f}"] for k, v in th],
                            ["l", "r"]), ""]
    obs = []
    for s in samples:
        obs.append(f"- {s['label']}: {s['alive']} of {s['pids']} process(es) alive at the end; "
                   f"machine busy {s['machine_busy_cpus']:.2f} of {os.cpu_count()} CPUs (all "
                   f"processes), steal {s['steal_pct']:.1f} %, loadavg {' '.join(s['loadavg'])}")
        if s["label"] == "sanwatch":
            m = s["mem_kib"]
            obs.append(f"- sanwatch: {m.get('Threads', '?')} threads, VmSize "
                       f"{bl.fmt(mib(m.get('VmSize')), 0)} MiB, start-up "
                       f"{s.get('startup_ms', 0):.0f} ms; peak RSS seen while sampling "
                       f"{bl.fmt(mib(s.get('peak_rss_kib')), 1)} MiB")
    lock = next((s for s in samples if "pause" in s["label"]), None)
    if sw and lock:
        obs.append(f"- canary rhythm: as started {sw['cpu_pct']:.2f} % CPU at "
                   f"{sw.get('wakeups_per_s', 0):,.0f} wakeups/s; after a 0.5 s pause "
                   f"{lock['cpu_pct']:.2f} % at {lock.get('wakeups_per_s', 0):,.0f} wakeups/s "
                   "(the same rhythm: targets of one period probe together)")
    out += ["### Observations", ""] + obs + ["", f"<!-- {SECTION}:end -->"]
    bl.write_section(a.results, SECTION, "\n".join(out) + "\n")
    print()
    print(bl.plain_table(head, rows))
    if sw and sw.get("threads_pct"):
        print()
        print(bl.plain_table(["thread", "CPU %"],
                             [[k, f"{v:.3f}"] for k, v in sorted(sw["threads_pct"].items(),
                                                                  key=lambda kv: -kv[1])]))
    print()
    print(f"written: {a.results}")
    return 0


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("report")
    p.add_argument("--samples", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--results", required=True)
    a = ap.parse_args()
    return report(a)


if __name__ == "__main__":
    sys.exit(main())
