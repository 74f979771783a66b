#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Parsing and report for bench/lab-detect.sh (stdlib only).

  labdetect.py parse --log CONSOLE --run R --rc RC --out TRIALS.jsonl
      the LAB-TRIAL lines of one lab run (bench/lab/detect-path.sh) as JSON
      lines with the lags in ms; prints a one-line summary
  labdetect.py report --trials TRIALS.jsonl --meta META.tsv --results FILE
      p50/p99/max/min per lag, over all runs and per run; rewrites the
      <!-- lab-detect:begin --> ... <!-- lab-detect:end --> section of FILE
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SECTION = "lab-detect"
GOAL_MS = 5.0
# (key, from stamp, to stamp, label): the lags of one trial. ref_ns is the
# kernel's send of the uevent: the kprobe's stamp, else the probe listener's.
LAGS = [
    ("path_failed_ms", "agent_uevent_ns", "path_failed_ns",
     "uevent read by sanwatch → path `failed` event"),
    ("map_degraded_ms", "agent_uevent_ns", "map_degraded_ns",
     "uevent read by sanwatch → map `degraded` event"),
    ("post_ms", "agent_uevent_ns", "post_first_byte_ns",
     "uevent read by sanwatch → first byte of the Alertmanager POST"),
    ("k_path_failed_ms", "ref_ns", "path_failed_ns",
     "uevent sent by the kernel → path `failed` event"),
    ("k_map_degraded_ms", "ref_ns", "map_degraded_ns",
     "uevent sent by the kernel → map `degraded` event"),
    ("k_post_ms", "ref_ns", "post_first_byte_ns",
     "uevent sent by the kernel → first byte of the Alertmanager POST"),
    ("receive_ms", "ref_ns", "agent_uevent_ns",
     "uevent sent by the kernel → read by sanwatch"),
    ("probe_receive_ms", "kernel_uevent_ns", "probe_uevent_ns",
     "uevent sent by the kernel → read by the probe listener (SCHED_FIFO)"),
]
GOALS = {"path_failed_ms", "post_ms", "k_path_failed_ms", "k_post_ms"}


def parse_trial(line):
    rec = {}
    for word in line.split("LAB-TRIAL", 1)[1].split():
        k, _, v = word.partition("=")
        rec[k] = int(v) if v.isdigit() else v
    return rec


def lags(rec):
    out = {}
    for key, a, b, _ in LAGS:
        if isinstance(rec.get(a), int) and isinstance(rec.get(b), int):
            out[key] = (rec[b] - rec[a]) / 1e6
    return out


def cmd_parse(a):
    n = 0
    summary = []
    try:
        with open(a.log, errors="replace") as f:
            for line in f:
                if "LAB-TRIAL" not in line:
                    continue
                rec = parse_trial(line)
                rec.update({"kind": "trial", "run": a.run})
                # A rescan may see the SCSI device offline before dm-multipath
                # fails the path: then nothing here was caused by the uevent.
                rec["by_uevent"] = "PATH_FAILED" in str(rec.get("path_reason"))
                kernel = isinstance(rec.get("kernel_uevent_ns"), int)
                rec["ref"] = "kprobe" if kernel else "probe"
                rec["ref_ns"] = rec["kernel_uevent_ns" if kernel else "probe_uevent_ns"]
                rec["lags"] = lags(rec) if rec["by_uevent"] else {}
                bl.append_jsonl(a.out, rec)
                n += 1
                summary.append(rec["lags"].get("k_path_failed_ms"))
    except OSError:
        pass
    bl.append_jsonl(a.out, {"kind": "run", "run": a.run, "rc": a.rc, "trials": n})
    xs = [x for x in summary if x is not None]
    print(f"  lab run {a.run}: rc {a.rc}, {n} trial(s)" +
          (f", uevent → path failed p50 {bl.pctl(xs, 50):.2f} ms, max {max(xs):.2f} ms" if xs else ""),
          file=sys.stderr)
    return 0


HEAD = ["measure", "trials", "p50 ms", "p99 ms", "max ms", "min ms", "goal", "verdict"]


def row(label, xs, goal):
    if not xs:
        return [label, 0, "–", "–", "–", "–", "", ""]
    p99 = bl.pctl(xs, 99)
    verdict = ("met" if p99 <= GOAL_MS else "**MISSED** (p99)") if goal else ""
    return [label, len(xs), bl.fmt(bl.pctl(xs, 50)), bl.fmt(p99), bl.fmt(max(xs)),
            bl.fmt(min(xs)), f"≤ {GOAL_MS:g} ms" if goal else "", verdict]


def per_run_rows(trials, runs):
    rows = []
    for r in runs:
        ts = [t for t in trials if t["run"] == r["run"]]
        others = r["trials"] - len(ts)
        cells = [f"run {r['run']}", f"{len(ts)}" + (f" (+{others} excluded)" if others else "") +
                 (f", rc {r['rc']}" if r["rc"] else "")]
        for key in ("path_failed_ms", "map_degraded_ms", "post_ms", "k_path_failed_ms", "k_post_ms"):
            xs = [t["lags"][key] for t in ts if key in t["lags"]]
            cells.append(" / ".join(bl.fmt(v) for v in (bl.pctl(xs, 50), bl.pctl(xs, 99), max(xs)))
                         if xs else "–")
        rows.append(cells)
    return rows


def observations(trials, all_trials, runs, meta):
    obs = []
    early = [t for t in all_trials if not t.get("by_uevent")]
    obs.append(f"- trials excluded because the path was already `failed` before the uevent "
               f"(a rescan read the SCSI state `offline` first): {len(early)} of {len(all_trials)}")
    reasons = sorted({t.get("path_reason", "?").replace("~", " ") for t in trials})
    obs.append("- path `failed` reasons: " + "; ".join(f"`{x}`" for x in reasons))
    refs = sorted({t.get("ref", "?") for t in trials})
    obs.append(f"- the kernel's send of the uevent came from: {', '.join(refs)} (kprobe = "
               "`dm_send_uevents` entry in tracefs with `trace_clock` mono, µs resolution; "
               "probe = the SCHED_FIFO listener's wake-up, when kprobe events are missing)")
    clocks = sorted({t.get("post_clock", "?") for t in trials})
    obs.append(f"- POST arrival stamps: {', '.join(clocks)} (kernel = SO_TIMESTAMPNS receive "
               "time of the request's first segment; user = the probe's wake-up)")
    both = sum(1 for t in trials if "SanwatchMapDegraded:firing" in str(t.get("post_alerts")))
    obs.append(f"- first POST after the uevent carried the map alert too: {both} of {len(trials)}")
    for key, what in (("post_ms", "read by sanwatch → POST"), ("k_post_ms", "kernel → POST"),
                      ("k_path_failed_ms", "kernel → path failed")):
        first = [t["lags"][key] for t in trials if t.get("n") == 1 and key in t["lags"]]
        rest = [t["lags"][key] for t in trials if t.get("n") != 1 and key in t["lags"]]
        if first and rest:
            obs.append(f"- {what}: the first trial of each boot (code run for the first time, "
                       f"which TCG must translate; the HTTP connection is already open, from "
                       f"the agent's start-up health check) "
                       f"{', '.join(bl.fmt(x) for x in first)} ms; the other {len(rest)} trials "
                       f"p50 {bl.fmt(bl.pctl(rest, 50))}, p99 {bl.fmt(bl.pctl(rest, 99))}, "
                       f"max {bl.fmt(max(rest))} ms")
    bad = [r for r in runs if r["rc"] != 0]
    if bad:
        obs.append(f"- runs that did not pass: {', '.join(str(r['run']) for r in bad)}")
    for k in ("load_at_start", "load_at_end"):
        if meta.get(k):
            obs.append(f"- host {k.replace('_', ' ')}: {meta[k]}")
    return obs


def cmd_report(a):
    recs = bl.read_jsonl(a.trials)
    meta = bl.read_meta(a.meta)
    all_trials = [r for r in recs if r.get("kind") == "trial"]
    trials = [r for r in all_trials if r.get("by_uevent")]
    runs = [r for r in recs if r.get("kind") == "run"]
    rows = [row(label, [t["lags"][k] for t in trials if k in t["lags"]], k in GOALS)
            for k, _, _, label in LAGS]
    run_head = ["run", "trials", "read → path failed", "read → map degraded", "read → POST",
                "kernel → path failed", "kernel → POST"]
    out = bl.section_head(SECTION, "Path failure in the qemu lab", "bench/lab-detect.sh", meta,
                          "a few trials")
    out += ["**Multipath lab, TCG-emulated**: Debian's 6.1 kernel under qemu without KVM (every "
            "guest instruction emulated, ≈ 10× slower than hardware) with two scsi_debug paths "
            "under a dm-multipath map, on a shared 2-CPU VM. Per trial the guest scenario "
            "(`bench/lab/detect-path.sh`) takes sdb offline and reads from the map: dm-multipath "
            "fails the path and sends `PATH_FAILED`; then it reinstates the path and waits for "
            "`ok`. Stamps are the guest's CLOCK_MONOTONIC: *read by sanwatch* = `received_ns` of "
            "the agent's uevent log line; *sent by the kernel* = a kprobe on `dm_send_uevents` "
            "(tracefs, `trace_clock` mono), so the agent's own receive delay is included; "
            "*the probe listener* = `sanwatch-labprobe uevents`, a second netlink listener at "
            "SCHED_FIFO; events = their `mono_ns`; POST = the kernel receive stamp of the first "
            "byte at `sanwatch-labprobe http`, the local HTTP sink that stands in for "
            "Alertmanager (`127.0.0.1`, kept-alive connection).", "",
            "### Environment", "", bl.env_table(meta, [
                "date", "nproc", "memory", "cpu", "virt", "kernel", "guest", "sanwatch",
                "load_at_start", "agent"]), "",
            "### Lags", "",
            "Percentiles interpolate linearly between order statistics (with fewer than 100 "
            "trials p99 lies between the two largest values).", "",
            bl.md_table(HEAD, rows, list("lrrrrrll")), "",
            "Per run (one VM boot each), p50 / p99 / max ms:", "",
            bl.md_table(run_head, per_run_rows(trials, runs), list("lrlllll")), "",
            "### Observations", ""] + observations(trials, all_trials, runs, meta) + ["", f"<!-- {SECTION}:end -->"]
    bl.write_section(a.results, SECTION, "\n".join(out) + "\n")
    print("\nTCG-emulated multipath lab (≈ 10× slower than hardware):\n")
    print(bl.plain_table(HEAD, rows))
    print()
    print(bl.plain_table(run_head, per_run_rows(trials, runs)))
    print(f"\nwritten: {a.results}")
    return 0 if trials else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("--log", required=True)
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--trials", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--results", required=True)
    a = ap.parse_args()
    return cmd_parse(a) if a.cmd == "parse" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
