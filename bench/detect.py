#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Detection-latency trials and report for bench/detect.sh (stdlib only).

The agent (`sanwatch run`, started by detect.sh with its stderr in LOG) and
the devices are detect.sh's; this runs the trials against them and appends
one JSON line per trial to OUT.

  detect.py stall  --log LOG --dev DEV --ctl CTL --stall-ms T --trials N --out OUT
      fault disk stalled, then one O_DIRECT read (CLOCK_MONOTONIC taken just
      before the pread); lag = event mono_ns - (that + T), and the agent's own
      view: inflight_oldest_s - T (the age of the kernel's request when the
      state was announced)
  detect.py slow   --log LOG --dev DEV --ctl CTL --delay-ms D --trials N --out OUT
      read_delay D, one O_DIRECT read; lag = event mono_ns - CLOCK_MONOTONIC
      right after the pread returned
  detect.py canary --log LOG --dev DEV --limit-file F --majmin M --iops I
                   --period-ms P --deadline-ms D --trials N --out OUT
      the agent's blk-throttle cgroup gets a read-IOPS limit on DEV; lag =
      event mono_ns - CLOCK_MONOTONIC just before the limit was written
  detect.py lab    --log LABLOG --run R --rc RC --out OUT
      LAB-METRIC lines of one tests/lab watchdog run
  detect.py report --trials OUT --meta META --results RESULTS.md
      rewrites the <!-- detection:begin --> ... <!-- detection:end --> section
"""
import argparse
import mmap
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

SECTION = "detection"
GOAL_STALL_P99_MS = 5.0
GOAL_SLOW_MS = 1.0


class Target:
    """The device's state as the agent announced it, followed through LOG."""

    def __init__(self, log_path, name):
        self.log = bl.AgentLog(log_path, from_start=True)
        self.name = name
        self.state = "ok"
        self.backlog = []
        self.pump()

    def pump(self):
        for ev in self.log.lines():
            if ev.get("event") == "state" and ev.get("target") == self.name:
                self.state = ev["to"]
                self.backlog.append(ev)

    def wait(self, to, timeout, after_ns=0):
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            for i, ev in enumerate(self.backlog):
                if ev["to"] == to and ev["mono_ns"] >= after_ns:
                    del self.backlog[:i + 1]
                    return ev
            if time.monotonic() > deadline:
                return None
            time.sleep(0.002)

    def settle(self, timeout):
        """Wait until the device is ok again (after the recovery time)."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            if self.state == "ok":
                self.backlog.clear()
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)


def ctl(path, line):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class Reader:
    """One O_DIRECT 4 KiB read in a thread, timed with CLOCK_MONOTONIC."""

    def __init__(self, dev, offset):
        self.dev, self.offset = dev, offset
        self.t_before = self.t_after = None
        self.error = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        self.started.wait()

    def run(self):
        fd = os.open(self.dev, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT wants
        try:
            self.t_before = bl.mono_ns()
            self.started.set()
            os.preadv(fd, [buf], self.offset)
            self.t_after = bl.mono_ns()
        except OSError as e:
            self.error = str(e)
        finally:
            self.started.set()
            os.close(fd)

    def join(self, timeout=None):
        self.thread.join(timeout)
        return not self.thread.is_alive()


def offsets(dev):
    with open(dev, "rb") as f:
        size = f.seek(0, os.SEEK_END)
    blocks = max(1, size // 4096 - 1)
    while True:
        yield random.randrange(blocks) * 4096


def progress(i, n, text):
    print(f"  [{i}/{n}] {text}", file=sys.stderr, flush=True)


def phase_record(a, phase, m0, params):
    m1 = bl.machine_cpu()
    m1["t"] = time.monotonic()
    dt = (m1["total"] - m0["total"]) or 1
    rec = {"kind": "phase", "phase": phase, "wall_s": m1["t"] - m0["t"],
           "machine_busy_cpus": (m1["busy"] - m0["busy"]) / bl.CLK_TCK / (m1["t"] - m0["t"]),
           "steal_pct": 100.0 * (m1["steal"] - m0["steal"]) / dt,
           "loadavg": open("/proc/loadavg").read().split()[0]}
    rec.update(params)
    bl.append_jsonl(a.out, rec)


def settle(t, a):
    """Each trial starts from ok: the last one's recovery is not measured."""
    if not t.settle(a.settle_timeout):
        sys.exit(f"detect: {t.name} not ok after {a.settle_timeout} s (state {t.state})")


def run_stall(a):
    t = Target(a.log, os.path.basename(a.dev))
    thr_ns = int(a.stall_ms * 1e6)
    offs = offsets(a.dev)
    m0 = dict(bl.machine_cpu(), t=time.monotonic())
    fails = 0
    for i in range(1, a.trials + 1):
        settle(t, a)
        time.sleep(random.uniform(0.05, 0.25))  # random phase against the agent's tick
        ctl(a.ctl, "stall")
        r = Reader(a.dev, next(offs))
        ev = t.wait("stalled", a.stall_ms / 1000 + 10, after_ns=r.t_before)
        ctl(a.ctl, "release")
        if not r.join(10):
            sys.exit("detect: the stalled read did not return after release")
        if ev is None:
            fails += 1
            progress(i, a.trials, "no stalled event within threshold + 10 s")
            bl.append_jsonl(a.out, {"kind": "trial", "phase": "stall", "trial": i, "missed": True})
            continue
        lag_ms = (ev["mono_ns"] - r.t_before - thr_ns) / 1e6
        kern_ms = ev["inflight_oldest_s"] * 1e3 - a.stall_ms
        rec = {"kind": "trial", "phase": "stall", "trial": i, "lag_ms": lag_ms,
               "lag_kernel_ms": kern_ms, "inflight_oldest_s": ev["inflight_oldest_s"],
               "reason": ev.get("reason"), "read_error": r.error,
               "read_s": (r.t_after - r.t_before) / 1e9 if r.t_after else None}
        bl.append_jsonl(a.out, rec)
        progress(i, a.trials, f"stalled {lag_ms:+.3f} ms after start + threshold, "
                              f"request age at announcement - threshold {kern_ms:+.3f} ms")
    phase_record(a, "stall", m0, {"stall_ms": a.stall_ms, "trials": a.trials, "missed": fails})
    return 1 if fails == a.trials else 0


def run_slow(a):
    t = Target(a.log, os.path.basename(a.dev))
    offs = offsets(a.dev)
    m0 = dict(bl.machine_cpu(), t=time.monotonic())
    fails = 0
    for i in range(1, a.trials + 1):
        settle(t, a)
        time.sleep(random.uniform(0.05, 0.25))
        ctl(a.ctl, f"read_delay {int(a.delay_ms * 1000)}us")
        r = Reader(a.dev, next(offs))
        r.join(10)
        ctl(a.ctl, "read_delay 0")
        ev = t.wait("slow", 10, after_ns=r.t_before)
        if ev is None or r.t_after is None:
            fails += 1
            progress(i, a.trials, f"no slow event within 10 s (read error: {r.error})")
            bl.append_jsonl(a.out, {"kind": "trial", "phase": "slow", "trial": i, "missed": True})
            continue
        lag_ms = (ev["mono_ns"] - r.t_after) / 1e6
        # The request completed at (its start + max_latency_s) and started after
        # t_before: this bounds the agent's lag from the kernel's completion.
        kern_ub_ms = (ev["mono_ns"] - r.t_before) / 1e6 - ev["max_latency_s"] * 1e3
        rec = {"kind": "trial", "phase": "slow", "trial": i, "lag_ms": lag_ms,
               "lag_kernel_ub_ms": kern_ub_ms, "max_latency_s": ev["max_latency_s"],
               "read_ms": (r.t_after - r.t_before) / 1e6, "reason": ev.get("reason")}
        bl.append_jsonl(a.out, rec)
        progress(i, a.trials, f"slow {lag_ms:+.3f} ms after the read returned "
                              f"(read took {rec['read_ms']:.1f} ms)")
    phase_record(a, "slow", m0, {"delay_ms": a.delay_ms, "trials": a.trials, "missed": fails})
    return 1 if fails == a.trials else 0


def write_limit(path, majmin, iops):
    if path.endswith("io.max"):
        line = f"{majmin} riops={iops if iops else 'max'}"
    else:
        line = f"{majmin} {iops}"
    with open(path, "w") as f:
        f.write(line)


def run_canary(a):
    t = Target(a.log, os.path.basename(a.dev))
    period_s = a.period_ms / 1000
    m0 = dict(bl.machine_cpu(), t=time.monotonic())
    fails = 0
    for i in range(1, a.trials + 1):
        settle(t, a)
        # a random phase against the canary schedule
        time.sleep(0.05 + random.uniform(0, period_s))
        t_apply = bl.mono_ns()
        write_limit(a.limit_file, a.majmin, a.iops)
        ev = t.wait("slow", period_s + a.deadline_ms / 1000 + 10, after_ns=t_apply)
        write_limit(a.limit_file, a.majmin, 0)
        if ev is None:
            fails += 1
            progress(i, a.trials, "no slow event")
            bl.append_jsonl(a.out, {"kind": "trial", "phase": "canary", "period_ms": a.period_ms,
                                    "trial": i, "missed": True})
            continue
        lag_ms = (ev["mono_ns"] - t_apply) / 1e6
        rec = {"kind": "trial", "phase": "canary", "period_ms": a.period_ms,
               "deadline_ms": a.deadline_ms, "iops": a.iops, "trial": i, "lag_ms": lag_ms,
               "reason": ev.get("reason"), "slow_ios": ev.get("slow_ios"),
               "canary_overdue_s": ev.get("canary_overdue_s"),
               "canary_latency_s": ev.get("canary_latency_s")}
        bl.append_jsonl(a.out, rec)
        progress(i, a.trials, f"period {a.period_ms:g} ms: slow {lag_ms:.1f} ms after the limit "
                              f"({ev.get('reason')})")
    phase_record(a, "canary", m0, {"period_ms": a.period_ms, "deadline_ms": a.deadline_ms,
                                   "iops": a.iops, "trials": a.trials, "missed": fails})
    return 1 if fails == a.trials else 0


def run_lab(a):
    rec = {"kind": "lab", "run": a.run, "rc": a.rc, "metrics": {}}
    try:
        with open(a.log, errors="replace") as f:
            for line in f:
                if "LAB-METRIC" not in line:
                    continue
                for word in line.split("LAB-METRIC", 1)[1].split():
                    k, _, v = word.partition("=")
                    try:
                        rec["metrics"][k] = float(v)
                    except ValueError:
                        pass
                if "LAB-RESULT" in line:
                    rec["result"] = line.strip()
    except OSError:
        pass
    bl.append_jsonl(a.out, rec)
    print(f"  lab run {a.run}: rc {a.rc}, " +
          ", ".join(f"{k}={v:g}" for k, v in rec["metrics"].items()), file=sys.stderr)
    return 0


# ---------------------------------------------------------------- report

def stats_row(label, xs, goal=None, goal_text="", digits=3):
    p50, p99, mx = bl.pctl(xs, 50), bl.pctl(xs, 99), max(xs) if xs else None
    verdict = ""
    if goal is not None and xs:
        verdict = "met" if p99 <= goal else "**MISSED**"
    return [label, len(xs), bl.fmt(p50, digits), bl.fmt(p99, digits), bl.fmt(mx, digits),
            bl.fmt(min(xs) if xs else None, digits), goal_text, verdict]


HEAD = ["measure", "trials", "p50 ms", "p99 ms", "max ms", "min ms", "goal", "verdict"]
CANARY_HEAD = ["canary period", "trials", "p50 ms", "p99 ms", "max ms", "min ms", "expected ms",
               "beyond ms", "agent lag p50 / p99 ms", "reason"]


def report(a):
    recs = bl.read_jsonl(a.trials)
    meta = bl.read_meta(a.meta)
    trials = [r for r in recs if r.get("kind") == "trial" and not r.get("missed")]
    missed = [r for r in recs if r.get("kind") == "trial" and r.get("missed")]
    phases = [r for r in recs if r.get("kind") == "phase"]
    labs = [r for r in recs if r.get("kind") == "lab"]
    by = lambda ph, k: [r[k] for r in trials if r["phase"] == ph and r.get(k) is not None]  # noqa: E731

    rows = []
    st = by("stall", "lag_ms")
    if st:
        rows.append(stats_row(f"stall → `stalled`: event `mono_ns` − (read start + {meta.get('stall')})",
                              st, GOAL_STALL_P99_MS, "p99 ≤ 5 ms"))
        rows.append(stats_row("stall → `stalled`: `inflight_oldest_s` − threshold (the kernel's "
                              "request age at announcement)", by("stall", "lag_kernel_ms"),
                              GOAL_STALL_P99_MS, "p99 ≤ 5 ms"))
    sl = by("slow", "lag_ms")
    if sl:
        rows.append(stats_row(f"{meta.get('slow_delay')} read delay → `slow`: event `mono_ns` − "
                              "pread returned", sl, GOAL_SLOW_MS, "≤ 1 ms"))
        rows.append(stats_row("same, from the kernel's completion (upper bound: event − (read "
                              "start + `max_latency_s`))", by("slow", "lag_kernel_ub_ms"),
                              GOAL_SLOW_MS, "≤ 1 ms"))

    crow = []
    for p in sorted({r["period_ms"] for r in trials if r["phase"] == "canary"}):
        xs = [r["lag_ms"] for r in trials if r["phase"] == "canary" and r["period_ms"] == p]
        d = next(r["deadline_ms"] for r in trials if r["phase"] == "canary" and r["period_ms"] == p)
        reasons = {r["reason"].split(" for ")[0].split(" took ")[0] for r in trials
                   if r["phase"] == "canary" and r["period_ms"] == p and r.get("reason")}
        beyond = [x - d - p for x in xs]
        # the agent's own lag: how far past the deadline the outstanding read
        # was when the state was announced
        own = [r["canary_overdue_s"] * 1e3 - d for r in trials
               if r["phase"] == "canary" and r["period_ms"] == p and r.get("canary_overdue_s")]
        crow.append([f"{p:g} ms", len(xs), bl.fmt(bl.pctl(xs, 50), 1), bl.fmt(bl.pctl(xs, 99), 1),
                     bl.fmt(max(xs), 1), bl.fmt(min(xs), 1), f"{d:g} – {d + p:g}",
                     bl.fmt(max(beyond), 1),
                     f"{bl.fmt(bl.pctl(own, 50), 3)} / {bl.fmt(bl.pctl(own, 99), 3)}" if own else "–",
                     "; ".join(sorted(reasons))])

    lab_keys = ["uevent_to_path_failed_ms", "uevent_to_map_degraded_ms"]
    lrows = []
    for k in lab_keys:
        xs = [r["metrics"][k] for r in labs if k in r.get("metrics", {})]
        if xs:
            lrows.append([f"`{k}`", len(xs), bl.fmt(bl.pctl(xs, 50), 2), bl.fmt(bl.pctl(xs, 99), 2),
                          bl.fmt(max(xs), 2), bl.fmt(min(xs), 2),
                          ", ".join(f"{x:g}" for x in xs)])

    out = bl.section_head(SECTION, "Detection latency", "bench/detect.sh", meta,
                          "1–2 trials, shortened thresholds")
    out += ["### Environment", "", bl.env_table(meta, [
        "date", "nproc", "memory", "cpu", "virt", "kernel", "clocksource", "sanwatch",
        "load_at_start", "device", "agent_stall", "agent_canary"]), ""]
    out += ["### Tracepoints: stall and injected latency", "",
            "Percentiles interpolate linearly between order statistics: with fewer than 100 "
            "trials p99 lies between the two largest values. Negative lags mean the agent "
            "announced before the reference point (for `slow`: before the reading thread was "
            "back in user space).", "",
            bl.md_table(HEAD, rows, list("lrrrrrll")) if rows else "(no trials)", ""]
    out += ["### Canary-only slowness (blk-throttle on the agent's cgroup)", "",
            f"The agent's cgroup gets a read-IOPS limit of {meta.get('canary_iops', '?')} on the "
            "device (each canary read then waits ≈ 1/limit s before a block request exists; "
            "tracepoints see nothing slow); lag = event `mono_ns` − the moment the limit was "
            "written. A canary read is judged late `deadline` after it was submitted, and the "
            "next read is submitted up to one `period` after the limit: expected lag ≈ "
            "deadline … deadline + period. \"beyond\" = max lag − (deadline + period); "
            "agent lag = the event's `canary_overdue_s` − deadline: how long after the "
            "outstanding read crossed its deadline the state was announced.", "",
            bl.md_table(CANARY_HEAD, crow, list("lrrrrrrrrl"))
            if crow else "(no trials)", ""]
    out += ["### Path failure (dm-multipath uevent → path `failed`, map `degraded`)", ""]
    if lrows:
        n_ok = sum(1 for r in labs if r.get("rc") == 0)
        out += [f"From `tests/lab/run-lab.sh --scenario tests/lab/scenarios/watchdog.sh` "
                f"({len(labs)} run(s), {n_ok} passed), one trial per run. The guest (Debian's 6.1 "
                "kernel) runs under **TCG emulation** (no KVM), several times slower than "
                "hardware, on this shared 2-CPU VM. The lag is measured inside the agent: from "
                "the `PATH_FAILED` uevent's arrival on its netlink socket (`received_ns`) to the "
                "state event's `mono_ns` — kernel → netlink delivery is not included.", "",
                bl.md_table(["measure", "runs", "p50 ms", "p99 ms", "max ms", "min ms", "values"],
                            lrows, list("lrrrrrl")), ""]
    elif labs:
        out += [f"{len(labs)} lab run(s), none printed LAB-METRIC lines (rc "
                f"{', '.join(str(r.get('rc')) for r in labs)}).", ""]
    else:
        out += [meta.get("lab_note", "Not run (`--lab-runs 0`)."), ""]
    out += ["Path failure with ≥ 20 trials per boot, from the kernel's uevent and to the first "
            "byte of the Alertmanager POST: `bench/lab-detect.sh`, section \"Path failure in the "
            "qemu lab\".", ""]
    obs = []
    for ph in phases:
        what = ph["phase"] + (f" (period {ph['period_ms']:g} ms)" if "period_ms" in ph else "")
        obs.append(f"- {what}: {ph['trials']} trial(s), {ph['missed']} without the expected "
                   f"event; machine busy {ph['machine_busy_cpus']:.2f} of {os.cpu_count()} CPUs "
                   f"(all processes, incl. this benchmark), steal {ph['steal_pct']:.1f} %, "
                   f"loadavg {ph['loadavg']}")
    slow_reasons = {r.get("reason", "").split(" within")[0].split(" of ")[-1] for r in trials
                    if r["phase"] == "slow"}
    if slow_reasons:
        obs.append("- `slow` reasons: " + "; ".join(f"`{x}`" for x in sorted(slow_reasons)))
    stall_reasons = {r.get("reason", "").split(" for ")[0] for r in trials if r["phase"] == "stall"}
    if stall_reasons:
        obs.append("- `stalled` reasons: " + "; ".join(f"`{x}`" for x in sorted(stall_reasons)))
    io_slow = [r for r in trials if r["phase"] == "canary" and r.get("slow_ios")]
    obs.append(f"- canary trials whose `slow` event counted slow block I/Os (should be none: "
               f"blk-throttle delays the read before a request exists): {len(io_slow)}")
    if missed:
        obs.append(f"- trials without the expected event: {len(missed)}")
    for k in ("notes",):
        if meta.get(k):
            obs.append(f"- {meta[k]}")
    out += ["### Observations", ""] + obs + ["", f"<!-- {SECTION}:end -->"]
    section = "\n".join(out) + "\n"
    bl.write_section(a.results, SECTION, section)
    print()
    if rows:
        print(bl.plain_table(HEAD, rows))
        print()
    if crow:
        print(bl.plain_table(CANARY_HEAD, crow))
        print()
    if lrows:
        print(bl.plain_table(["lab", "runs", "p50 ms", "p99 ms", "max ms", "min ms", "values"],
                             lrows))
        print()
    print(f"written: {a.results}")
    return 0


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log", required=True)
    common.add_argument("--dev", required=True)
    common.add_argument("--trials", type=int, default=30)
    common.add_argument("--out", required=True)
    common.add_argument("--settle-timeout", type=float, default=60)
    p = sub.add_parser("stall", parents=[common])
    p.add_argument("--ctl", required=True)
    p.add_argument("--stall-ms", type=float, required=True)
    p = sub.add_parser("slow", parents=[common])
    p.add_argument("--ctl", required=True)
    p.add_argument("--delay-ms", type=float, default=50)
    p = sub.add_parser("canary", parents=[common])
    p.add_argument("--limit-file", required=True)
    p.add_argument("--majmin", required=True)
    p.add_argument("--iops", type=int, default=2)
    p.add_argument("--period-ms", type=float, required=True)
    p.add_argument("--deadline-ms", type=float, required=True)
    p = sub.add_parser("lab")
    p.add_argument("--log", required=True)
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--trials", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--results", required=True)
    a = ap.parse_args()
    return {"stall": run_stall, "slow": run_slow, "canary": run_canary, "lab": run_lab,
            "report": report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
