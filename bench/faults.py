#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/faults.sh's report (stdlib only): reads the "sanwatch-fault-row
{json}" lines the tests/faults suite prints (tests/support/fault_row.h),
prints one row per fault, and writes the Reliability section of RESULTS.md,
where the faults of the matrix not measured yet stay "not yet measured".

  faults.py table OUTPUT
  faults.py report OUTPUT --meta META.tsv --results RESULTS.md
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import env_table, read_meta, section_head  # noqa: E402
from stats import md_table, write_section  # noqa: E402

PREFIX = "sanwatch-fault-row "
HEAD = ["fault", "injected", "sanwatch reported", "lost", "measured"]
# The fault matrix of issue 15 §3, in its order. A measured row takes the
# place of the entry its "fault" starts with; the others are placeholders.
MATRIX = [
    "kill -9 of the agent during a stall",
    "SIGHUP storm, half of the files broken",
    "wall clock stepped +-1 h while a device is slow",
    "exec hook hanging or flooding its output",
    "slowloris: 1,000 idle connections to /metrics",
    "scraper flood: 200 scrapes/s",
    "Alertmanager black hole / refusing / answering 500",
    "100,000 uevents/s, and forged uevents",
    "ring buffer overflow",
    "500 loop devices attached and detached",
    "ledger disk full / read-only / stalled",
]


def read_rows(path):
    """The rows in the suite's output, or in `ctest -V`'s (which prefixes
    each line with the test's number)."""
    rows = []
    with open(path, errors="replace") as f:
        for line in f:
            at = line.find(PREFIX)
            if at >= 0:
                rows.append(json.loads(line[at + len(PREFIX):]))
    return rows


def num(x):
    if isinstance(x, float):
        if x != 0 and abs(x) < 0.001:
            return f"{x:.1e}"
        return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 10 else f"{x:,.1f}"
    return str(x)


def value_text(v):
    """A measured value: a spread as "min / median / max", a dict as
    "key value, ..." (nested spreads too), a list joined by " / "."""
    if isinstance(v, dict) and set(v) == {"min", "median", "max"}:
        return f"{num(v['min'])} / {num(v['median'])} / {num(v['max'])}"
    if isinstance(v, dict):
        return ", ".join(f"{a} {value_text(b)}" for a, b in v.items())
    if isinstance(v, list):
        return " / ".join(num(x) for x in v)
    return num(v)


def measured_text(m):
    """{"a_ms": {"min":..,"median":..,"max":..}, "n": 5} -> "a_ms 1 / 2 / 3; n 5"."""
    return "; ".join(f"{k} {value_text(v)}" for k, v in m.items())


def table_rows(measured, placeholders):
    """The matrix in order (every row of a fault, placeholders for the faults
    not measured), then
    any measured row the matrix does not name."""
    by = {r["fault"]: r for r in measured}
    out, used = [], set()
    for name in MATRIX:
        # A fault may print one row per variant ("<name>: full", ...).
        rs = [by[f] for f in by if f.startswith(name) or name.startswith(f)]
        for r in rs:
            used.add(r["fault"])
            out.append([r["fault"], r["injected"], r["reported"], r["lost"],
                        measured_text(r["measured"])])
        if not rs and placeholders:
            out.append([name, "–", "–", "–", "not yet measured"])
    for r in measured:
        if r["fault"] not in used:
            out.append([r["fault"], r["injected"], r["reported"], r["lost"],
                        measured_text(r["measured"])])
    return out


def cmd_table(a):
    rows = table_rows(read_rows(a.output), placeholders=False)
    if not rows:
        print("faults: no result rows in the suite's output", file=sys.stderr)
        return 1
    print(md_table(HEAD, rows, ["l"] * len(HEAD)))
    return 0


def cmd_report(a):
    meta = read_meta(a.meta)
    rows = table_rows(read_rows(a.output), placeholders=True)
    lines = section_head("reliability", "Reliability: the fault matrix", "bench/faults.sh",
                         meta, "a subset of the faults")
    lines += ["### Environment", "",
              env_table(meta, ["date", "nproc", "memory", "cpu", "virt", "kernel",
                               "clocksource", "sanwatch", "load_at_start", "tests"]), "",
              "### Faults", "",
              "Each row is one test case of `tests/faults/` (root, a loop device over the "
              "fault disk, the real agent binary, real signals), which asserts the expectation "
              "and prints what it measured. min / median / max where a fault was repeated.", "",
              md_table(HEAD, rows, ["l", "l", "l", "l", "l"]), "",
              "### Found by these rows, fixed", "",
              "- Exec hook flooding its output: the agent's hook thread read the flood 4 KiB "
              "per wake-up, 0.57 s of CPU per second of flood (3.1 s for the 9 flooding runs "
              "of the test). Past the 4 KiB kept for the log, output is now drained every "
              "100 ms: 0.03–0.04 s for the same runs.",
              "- Wall clock stepped: the ledger's minute rows counted on the wall clock, so the "
              "+1 h step wrote 61 minute rows with 3,589 s of `slow` for 5.7 s watched (and a "
              "step back held the rows back for the hour). Minutes now end at a step and start "
              "again on the new clock.", "",
              "<!-- reliability:end -->", ""]
    write_section(a.results, "reliability", "\n".join(lines))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("output")
    r = sub.add_parser("report")
    r.add_argument("output")
    r.add_argument("--meta", required=True)
    r.add_argument("--results", required=True)
    a = p.parse_args()
    return cmd_table(a) if a.cmd == "table" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
