#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Parsing and statistics for bench/run.sh (stdlib only).

  stats.py record --config K --round R --fio FIO.json [--before B.json
           --after A.json --attach AT.json --gone G.json --exit-code N
           --lines-at-attach N --lines-before-stop N --first-line TEXT]
           [--append runs.jsonl]
      one JSON line describing one run (with --append: added to the file,
      and a one-line summary printed)

  stats.py report --runs runs.jsonl --configs configs.tsv --meta meta.tsv
           --results RESULTS.md
      medians, min-max, ratios, ns per I/O, per-program ns/run; rewrites the
      <!-- overhead:begin --> ... <!-- overhead:end --> section of RESULTS.md
      (creating the file, or appending the section, if needed) and prints the
      side-by-side tables.
"""
import argparse
import json
import os
import signal
import statistics
import sys

BEGIN = "<!-- overhead:begin -->"
END = "<!-- overhead:end -->"
TRACING_TYPES = {"tracing", "raw_tracepoint", "tracepoint", "kprobe", "perf_event",
                 "raw_tracepoint_writable"}


# ---------------------------------------------------------------- record

def load_json(path):
    if not path:
        return None
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON document.
    start = text.find("{")
    return json.loads(text[start:]) if start >= 0 else None


def fio_figures(doc):
    jobs = doc["jobs"]
    iops = sum(j["read"]["iops"] for j in jobs)
    ios = sum(j["read"]["total_ios"] for j in jobs)
    runtime_ms = max(j["read"]["runtime"] for j in jobs)
    clat = jobs[0]["read"].get("clat_ns", {})
    pct = clat.get("percentile", {})
    return {"iops": iops, "ios": ios, "runtime_ms": runtime_ms,
            "clat_mean_ns": clat.get("mean"),
            "clat_p99_ns": pct.get("99.000000"),
            "usr_cpu": jobs[0].get("usr_cpu"), "sys_cpu": jobs[0].get("sys_cpu")}


def machine_load(before, after, rec):
    """How busy the rest of the machine was during the run.

    other_cpus: CPUs' worth of task time (user + nice + system in /proc/stat;
    irq and softirq time, much of it the I/O's own completions, left out)
    not spent in fio, the tracer or kernel threads (which carry the loop
    device's work). It includes processes too short-lived to show in either
    snapshot (compilers) and ones in other PID namespaces. others: the
    biggest long-lived visible ones.
    """
    if "cpu" not in before or "cpu" not in after:
        return {}
    hz = before["clk_tck"]
    window = rec["window_s"]
    d = [x - y for x, y in zip(after["cpu"], before["cpu"])]
    total = sum(d) or 1
    busy_s = (d[0] + d[1] + d[2]) / hz  # user, nice, system: task time (no irq/softirq)
    known = 0.0
    others = []
    skip = {str(before.get("pid")), str(before.get("self")), str(after.get("self"))}
    for pid, (comm, ticks, kthread) in after["procs"].items():
        b = before["procs"].get(pid)
        if not b or b[0] != comm:
            continue
        dt = (ticks - b[1]) / hz
        if kthread or pid in skip:
            known += dt
        elif dt / window >= 0.05 and comm != "fio":
            others.append((dt / window, comm))
    fio_s = ((rec.get("usr_cpu") or 0) + (rec.get("sys_cpu") or 0)) / 100 * rec["runtime_ms"] / 1000
    # fio's usr/sys cover its job thread only; its io_uring workers (iou-wrk)
    # show in the script's reaped-children time, which is fio's whole CPU.
    b, e = before.get("parent_children_ticks"), after.get("parent_children_ticks")
    if b is not None and e is not None and e > b:
        fio_s = max(fio_s, (e - b) / hz)
    other = max(0.0, busy_s - known - fio_s) / window
    others.sort(reverse=True)
    return {"other_cpus": round(other, 3), "steal_pct": round(100 * d[7] / total, 2),
            "others": [f"{c} {100 * x:.0f}%" for x, c in others[:3]]}


def prog_deltas(before, after):
    """Per-program run_time_ns / run_cnt deltas between two snapshots."""
    progs = []
    for pid, b in before["progs"].items():
        e = after["progs"].get(pid)
        if not b or not e:
            progs.append({"id": int(pid), "name": (b or e or {}).get("name", "?"),
                          "missing": True})
            continue
        progs.append({"id": int(pid), "name": b["name"],
                      "d_run_time_ns": e["run_time_ns"] - b["run_time_ns"],
                      "d_run_cnt": e["run_cnt"] - b["run_cnt"]})
    return progs


def cmd_record(a):
    rec = {"config": a.config, "round": a.round}
    rec.update(fio_figures(load_json(a.fio)))
    before, after = load_json(a.before), load_json(a.after)
    cost_before, cost_after = load_json(a.cost_before), load_json(a.cost_after)
    if cost_before and cost_after:
        rec["progs"] = prog_deltas(cost_before, cost_after)
        rec["cost_ios"] = fio_figures(load_json(a.cost_fio))["ios"]
    if before and after:
        if "progs" not in rec:
            rec["progs"] = prog_deltas(before, after)
        rec["foreign"] = sorted(set(before["foreign"]) | set(after["foreign"]))
        rec["window_s"] = after["t"] - before["t"]
        if before.get("cpu_ticks") is not None and after.get("cpu_ticks") is not None:
            rec["tracer_cpu_s"] = (after["cpu_ticks"] - before["cpu_ticks"]) / before["clk_tck"]
        rec.update(machine_load(before, after, rec))
    att = load_json(a.attach)
    if att:
        rec["attach_s"] = att.get("attach_s")
        rec["prog_names"] = att.get("names")
    gone = load_json(a.gone)
    if gone:
        rec["stray_ids"] = gone.get("remaining", [])
        rec["gone_s"] = gone.get("gone_s")
    if a.exit_code is not None:
        rec["exit_code"] = a.exit_code
    if a.lines_at_attach is not None:
        rec["lines_at_attach"] = a.lines_at_attach
        rec["lines_before_stop"] = a.lines_before_stop
    if a.first_line is not None:
        rec["first_line"] = a.first_line
    line = json.dumps(rec, sort_keys=True)
    if a.append:
        with open(a.append, "a") as f:
            f.write(line + "\n")
        cost = bpf_cost(rec)
        print(f"{rec['iops']:>12,.0f} IOPS" +
              (f"  {cost[0]:>7,.0f} BPF ns per I/O" if cost else " " * 23) +
              (f"  other load {rec['other_cpus']:.2f} CPU" if "other_cpus" in rec else "") +
              (f"  (attached in {rec['attach_s']:.1f} s)" if rec.get("attach_s") else ""))
    else:
        print(line)
    return 0


# ---------------------------------------------------------------- report

def read_tsv(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                rows.append(line.split("\t"))
    return rows


def is_complete(name):
    return "compl" in name


def bpf_cost(run):
    """(ns per completed I/O, ns per fio I/O, completions) of one traced run."""
    progs = [p for p in run.get("progs", []) if not p.get("missing")]
    if not progs:
        return None
    rt = sum(p["d_run_time_ns"] for p in progs)
    if rt <= 0:
        return None  # bpf_stats off
    ios = run.get("cost_ios", run["ios"])  # the bpf_stats-on run, when there was one
    comp = sum(p["d_run_cnt"] for p in progs if is_complete(p["name"]))
    completions = comp if comp > 0 else ios
    return rt / completions, rt / ios if ios else None, completions, rt


def med(xs):
    return statistics.median(xs) if xs else None


def f_int(x):
    return "–" if x is None else f"{x:,.0f}"


def f_ratio(x):
    return "–" if x is None else f"{x:.3f}"


def f_ns(x):
    return "–" if x is None else f"{x:,.0f}"


def md_table(head, rows, align=None):
    align = align or ["l"] + ["r"] * (len(head) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def plain_table(head, rows):
    cells = [head] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                               for i, c in enumerate(r)))
        if n == 0:
            lines.append("  ".join("-" * x for x in w))
    return "\n".join(lines)


def analyse(runs, configs):
    by = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    base_key = configs[0]["key"]
    base = by.get(base_key, [])
    base_med = med([r["iops"] for r in base])
    base_round = {r["round"]: r["iops"] for r in base}
    summary, programs = [], []
    noise = noise_of(runs, base)
    # BPF cost relative to the reference tool (the one with a known ns figure),
    # paired by round: load on a shared machine inflates every tool's ns alike.
    ref_key = next((c["key"] for c in configs if c.get("ref_ns")), None)
    ref_ns = {r["round"]: bpf_cost(r)[0] for r in by.get(ref_key, []) if bpf_cost(r)}
    for c in configs:
        rs = by.get(c["key"], [])
        iops = [r["iops"] for r in rs]
        s = {"cfg": c, "n": len(rs), "median": med(iops),
             "min": min(iops) if iops else None, "max": max(iops) if iops else None}
        s["ratio"] = s["median"] / base_med if s["median"] and base_med else None
        paired = [r["iops"] / base_round[r["round"]] for r in rs if base_round.get(r["round"])]
        s["paired"] = med(paired)
        costs = [x for x in (bpf_cost(r) for r in rs) if x]
        s["ns_io"] = med([x[0] for x in costs])
        s["ns_io_min"] = min((x[0] for x in costs), default=None)
        s["ns_io_max"] = max((x[0] for x in costs), default=None)
        rel = [bpf_cost(r)[0] / ref_ns[r["round"]] for r in rs
               if bpf_cost(r) and ref_ns.get(r["round"])]
        s["ns_rel"] = med(rel)
        cpu = [100 * r["tracer_cpu_s"] / r["window_s"] for r in rs
               if r.get("tracer_cpu_s") is not None and r.get("window_s")]
        s["cpu_pct"] = med(cpu)
        s["attach_s"] = med([r["attach_s"] for r in rs if r.get("attach_s") is not None])
        s["other"] = med([r["other_cpus"] for r in rs if r.get("other_cpus") is not None])
        s["noise"] = noise
        summary.append(s)
        # per program, grouped by name
        per = {}
        for r in rs:
            cost = bpf_cost(r)
            if not cost:
                continue
            for p in r.get("progs", []):
                if p.get("missing"):
                    continue
                d = per.setdefault(p["name"], {"ns_run": [], "runs_io": [], "ns_io": []})
                if p["d_run_cnt"] > 0:
                    d["ns_run"].append(p["d_run_time_ns"] / p["d_run_cnt"])
                d["runs_io"].append(p["d_run_cnt"] / cost[2])
                d["ns_io"].append(p["d_run_time_ns"] / cost[2])
        for name, d in per.items():
            programs.append({"cfg": c, "name": name, "ns_run": med(d["ns_run"]),
                             "ns_run_min": min(d["ns_run"], default=None),
                             "ns_run_max": max(d["ns_run"], default=None),
                             "runs_io": med(d["runs_io"]), "ns_io": med(d["ns_io"])})
    return summary, programs


# Above these the IOPS ratios say more about the machine than about the tracer.
NOISY_SPREAD = 1.25   # max/min IOPS of the no-tracer runs
NOISY_LOAD = 0.25     # median CPUs used by others while fio ran


def noise_of(runs, base):
    """Why IOPS comparisons are unreliable in this data set ('' if they are not)."""
    why = []
    iops = [r["iops"] for r in base]
    if len(iops) < 3:
        why.append(f"{len(iops)} no-tracer run(s)")
    elif max(iops) / min(iops) > NOISY_SPREAD:
        why.append(f"no-tracer IOPS vary {max(iops) / min(iops):.2f}×")
    load = [r["other_cpus"] for r in runs if r.get("other_cpus") is not None]
    if load and med(load) > NOISY_LOAD:
        why.append(f"other load {med(load):.2f} CPU")
    return ", ".join(why)


def goal_text(c, goal="goal_ratio", ref="ref_ratio", cmp="≥"):
    parts = []
    if c.get(goal):
        parts.append(f"goal {cmp} {c[goal]}")
    if c.get(ref):
        parts.append(f"before: ≈ {c[ref]}")
    return "; ".join(parts)


def goal_ns_text(c):
    return goal_text(c, "goal_ns", "ref_ns", "≤")


def verdict(s):
    c = s["cfg"]
    out = []
    if c.get("goal_ratio") and s["ratio"] is not None:
        if s["noise"]:
            out.append("IOPS inconclusive (noisy)")
        else:
            out.append("IOPS " + ("met" if s["ratio"] >= float(c["goal_ratio"]) else "MISSED"))
    if c.get("goal_ns") and s["ns_io"] is not None:
        out.append("ns " + ("met" if s["ns_io"] <= float(c["goal_ns"]) else "MISSED"))
    return ", ".join(out)


def summary_rows(summary):
    rows = []
    for s in summary:
        c = s["cfg"]
        rng = "–" if s["min"] is None else f"{s['min']:,.0f} – {s['max']:,.0f}"
        nsr = ("–" if s["ns_io_min"] is None
               else f"{s['ns_io_min']:,.0f} – {s['ns_io_max']:,.0f}")
        rows.append([f"{c['key']} {c['label']}", s["n"], f_int(s["median"]), rng,
                     f_ratio(s["ratio"]), f_ratio(s["paired"]), goal_text(c),
                     f_ns(s["ns_io"]), nsr, f_ratio(s["ns_rel"]), goal_ns_text(c),
                     "–" if s["cpu_pct"] is None else f"{s['cpu_pct']:.1f}",
                     "–" if s["other"] is None else f"{s['other']:.2f}",
                     verdict(s)])
    return rows


SUMMARY_HEAD = ["configuration", "runs", "median IOPS", "min – max IOPS", "ratio",
                "paired ratio", "ratio goal / before", "BPF ns per I/O",
                "min – max ns", "ns ÷ biolatency", "ns goal / before", "tracer CPU %", "other load (CPUs)",
                "verdict"]
SUMMARY_ALIGN = list("lrrrrrlrrrlrrl")
PROG_HEAD = ["configuration", "program", "ns per run (median)", "min – max",
             "runs per I/O", "ns per I/O"]


def program_rows(programs):
    rows = []
    for p in programs:
        rng = ("–" if p["ns_run_min"] is None
               else f"{p['ns_run_min']:,.0f} – {p['ns_run_max']:,.0f}")
        rows.append([f"{p['cfg']['key']} {p['cfg']['label']}", p["name"], f_ns(p["ns_run"]),
                     rng, f"{p['runs_io']:.4f}",
                     "–" if p["ns_io"] is None else
                     f"{p['ns_io']:.1f}" if p["ns_io"] < 10 else f"{p['ns_io']:,.0f}"])
    return rows


def raw_rows(runs, configs):
    label = {c["key"]: c["label"] for c in configs}
    order = {c["key"]: i for i, c in enumerate(configs)}
    rows = []
    for r in sorted(runs, key=lambda r: (r["round"], order.get(r["config"], 99))):
        cost = bpf_cost(r)
        notes = []
        if r.get("exit_code") not in (None, 0):
            notes.append(f"exit {r['exit_code']}")
        if r.get("stray_ids"):
            notes.append(f"stray progs {r['stray_ids']}")
        if r.get("lines_before_stop") is not None and \
                r["lines_before_stop"] != r["lines_at_attach"]:
            notes.append(f"printed {r['lines_before_stop'] - r['lines_at_attach']} lines during run")
        tr = [f for f in r.get("foreign", []) if f.split(":")[0] in TRACING_TYPES]
        if tr:
            notes.append("foreign tracing progs: " + ", ".join(tr))
        if r.get("others"):
            notes.append("busy: " + ", ".join(r["others"]))
        cpu = ("–" if r.get("tracer_cpu_s") is None or not r.get("window_s")
               else f"{100 * r['tracer_cpu_s'] / r['window_s']:.1f}")
        rows.append([r["round"], f"{r['config']} {label.get(r['config'], '')}",
                     f"{r['iops']:,.0f}", f"{r['ios']:,}",
                     f_int(cost[2]) if cost else "–", f_int(cost[3]) if cost else "–",
                     f_ns(cost[0]) if cost else "–",
                     "–" if r.get("attach_s") is None else f"{r['attach_s']:.1f}",
                     cpu, "–" if r.get("other_cpus") is None else f"{r['other_cpus']:.2f}",
                     "–" if r.get("steal_pct") is None else f"{r['steal_pct']:.1f}",
                     "; ".join(notes)])
    return rows


RAW_HEAD = ["round", "configuration", "IOPS", "fio I/Os", "completions (BPF)",
            "BPF run_time ns", "ns per I/O", "attach s", "tracer CPU %",
            "other load (CPUs)", "steal %", "notes"]


def observations(runs, configs, meta):
    label = {c["key"]: c["label"] for c in configs}
    out = []
    first = {}
    for r in runs:
        if r.get("first_line") and r["config"] not in first:
            first[r["config"]] = r["first_line"]
    for k, line in first.items():
        out.append(f"- {label.get(k, k)} startup line: `{line}`")
    printed = sorted({label.get(r["config"], r["config"]) for r in runs
                      if r.get("lines_before_stop") is not None
                      and r["lines_before_stop"] != r["lines_at_attach"]})
    out.append("- tracers that printed while fio ran: " + (", ".join(printed) or "none"))
    att = [r["attach_s"] for r in runs if r.get("attach_s") is not None]
    if att:
        worst = max(runs, key=lambda r: r.get("attach_s") or 0)
        out.append(f"- time from start to all programs attached: max {max(att):.1f} s "
                   f"({label.get(worst['config'])})")
    bad = [r for r in runs if r.get("exit_code") not in (None, 0)]
    out.append("- tracers exiting non-zero on SIGINT: " +
               (", ".join(f"{label.get(r['config'])} (round {r['round']}: {r['exit_code']})"
                          for r in bad) or "none"))
    stray = [r for r in runs if r.get("stray_ids")]
    out.append("- programs left behind after a tracer exited: " +
               (", ".join(f"{label.get(r['config'])} {r['stray_ids']}" for r in stray)
                or "none"))
    foreign = sorted({f for r in runs for f in r.get("foreign", [])
                      if f.split(":")[0] in TRACING_TYPES})
    out.append("- foreign tracing BPF programs loaded during runs (other users of the "
               "machine; they add cost to every configuration): " +
               (", ".join(f"`{f}`" for f in foreign) or "none"))
    base = [r for r in runs if r["config"] == configs[0]["key"]]
    noise = noise_of(runs, base)
    if noise:
        out.append(f"- **IOPS ratios are not reliable in this data set** ({noise}; thresholds: "
                   f"spread > {NOISY_SPREAD}×, other load > {NOISY_LOAD} CPU); "
                   "the BPF ns per I/O figures, timed by the kernel per program run, hold up")
    load = [r["other_cpus"] for r in runs if r.get("other_cpus") is not None]
    if load:
        busy = {}
        for r in runs:
            for o in r.get("others", []):
                busy.setdefault(o.rsplit(" ", 1)[0], 0)
                busy[o.rsplit(" ", 1)[0]] += 1
        top = sorted(busy, key=busy.get, reverse=True)[:5]
        nproc = next((v for k, v in meta if k == "nproc"), "?")
        out.append(f"- other load on the machine while fio ran (CPUs used by anything but fio, "
                   f"the tracer and kernel threads, of {nproc}): median {med(load):.2f}, "
                   f"max {max(load):.2f}" +
                   (f"; busiest: {', '.join(top)}" if top else ""))
        steal = [r["steal_pct"] for r in runs if r.get("steal_pct") is not None]
        if steal:
            out.append(f"- CPU steal time (hypervisor): median {med(steal):.1f} %, "
                       f"max {max(steal):.1f} %")
    names = {}
    for r in runs:
        if r.get("prog_names"):
            names.setdefault(r["config"], sorted(set(r["prog_names"].values())))
    for k, n in names.items():
        out.append(f"- {label.get(k, k)} programs: " + ", ".join(f"`{x}`" for x in n))
    return "\n".join(out)


def build_section(runs, configs, meta, summary, programs):
    m = dict(meta)
    lines = [BEGIN, "## I/O overhead and BPF cost per I/O (`bench/run.sh`)", ""]
    if m.get("mode") == "quick":
        lines += ["> **Quick smoke run** (`--quick`): one short round; "
                  "the figures are not a measurement.", ""]
    lines += [f"Generated {m.get('date', '?')} by `{m.get('command', 'bench/run.sh')}` — "
              f"{m.get('rounds')} round(s) × {m.get('seconds')} s per configuration, "
              "configurations interleaved in each round.", ""]
    env = [("date", m.get("date")), ("nproc", m.get("nproc")), ("memory", m.get("memory")),
           ("CPU", m.get("cpu")), ("virtualization", m.get("virt")),
           ("kernel", m.get("kernel")), ("clocksource", m.get("clocksource")),
           ("fio", m.get("fio")), ("bpftrace", m.get("bpftrace")),
           ("sanwatch", m.get("sanwatch")), ("biolatency", m.get("biolatency")),
           ("bpftool", m.get("bpftool")), ("device", m.get("device")),
           ("fio job", m.get("fio_job")), ("bpf_stats", m.get("bpf_stats"))]
    lines += ["### Environment", "", md_table(["", ""], [[k, v or "?"] for k, v in env],
                                               ["l", "l"]), ""]
    lines += ["### Configurations", "",
              md_table(["key", "configuration", "command"],
                       [[c["key"], c["label"], f"`{c['command']}`" if c["command"] else "–"]
                        for c in configs], ["l", "l", "l"]), ""]
    lines += ["### Summary", "",
              "ratio = median IOPS / median IOPS of A; paired ratio = median over rounds of "
              "(IOPS / IOPS of A in the same round). BPF ns per I/O = Σ run_time_ns of the "
              "tracer's programs / completions (run_cnt of its completion program), "
              "with bpf_stats on; ns ÷ biolatency = median over rounds of (ns per I/O / "
              "biolatency's in the same round).", "",
              md_table(SUMMARY_HEAD, summary_rows(summary), SUMMARY_ALIGN), ""]
    lines += ["### Per-program cost", "",
              "ns per run = Δrun_time_ns / Δrun_cnt of one program (median over runs); "
              "runs per I/O = Δrun_cnt / completions; ns per I/O = that program's share.",
              "", md_table(PROG_HEAD, program_rows(programs), list("llrrrr")), ""]
    lines += ["### Raw runs", "", md_table(RAW_HEAD, raw_rows(runs, configs), list("rlrrrrrrrrrl")), ""]
    lines += ["### Observations", "", observations(runs, configs, meta), "", END]
    return "\n".join(lines) + "\n"


def write_section(path, name, section):
    """Replace <!-- NAME:begin --> ... <!-- NAME:end --> in PATH with SECTION
    (which must carry the markers); append it, or create the file, if absent.
    Atomic (tmp + rename). Shared by every benchmark."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if begin in old and end in old and old.index(begin) < old.index(end):
        new = old[:old.index(begin)] + section.rstrip("\n") + old[old.index(end) + len(end):]
    elif old.strip():
        new = old.rstrip("\n") + "\n\n" + section
    else:
        new = ("# sanwatch benchmark results\n\n"
               "Written by the benchmarks in `bench/` (see bench/README.md). Each benchmark "
               "owns the part of this file between its `<!-- NAME:begin -->` and "
               "`<!-- NAME:end -->` markers and rewrites only that part.\n\n" + section)
    if not new.endswith("\n"):
        new += "\n"
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)


def write_results(path, section):
    write_section(path, "overhead", section)


def cmd_report(a):
    runs = []
    with open(a.runs) as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    configs = []
    for row in read_tsv(a.configs):
        row += [""] * (7 - len(row))
        key, label, command, ref_ratio, ref_ns, goal_ratio, goal_ns = row[:7]
        configs.append({"key": key, "label": label, "command": command,
                        "ref_ratio": ref_ratio, "ref_ns": ref_ns,
                        "goal_ratio": goal_ratio, "goal_ns": goal_ns})
    meta = [(r[0], r[1] if len(r) > 1 else "") for r in read_tsv(a.meta)]
    if not runs:
        print("no runs recorded", file=sys.stderr)
        return 1
    summary, programs = analyse(runs, configs)
    write_results(a.results, build_section(runs, configs, meta, summary, programs))
    print()
    print(plain_table(SUMMARY_HEAD, summary_rows(summary)))
    print()
    print(plain_table(PROG_HEAD, program_rows(programs)))
    print()
    print(f"written: {a.results}")
    return 0


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: die quietly, run.sh cleans up
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--config", required=True)
    r.add_argument("--round", type=int, required=True)
    r.add_argument("--fio", required=True)
    r.add_argument("--before")
    r.add_argument("--after")
    r.add_argument("--cost-fio", help="fio JSON of the bpf_stats-on run")
    r.add_argument("--cost-before")
    r.add_argument("--cost-after")
    r.add_argument("--attach")
    r.add_argument("--gone")
    r.add_argument("--exit-code", type=int)
    r.add_argument("--lines-at-attach", type=int)
    r.add_argument("--lines-before-stop", type=int)
    r.add_argument("--first-line")
    r.add_argument("--append", help="append the JSON line to this file, print a summary")
    p = sub.add_parser("report")
    p.add_argument("--runs", required=True)
    p.add_argument("--configs", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--results", required=True)
    a = ap.parse_args()
    return cmd_record(a) if a.cmd == "record" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
