#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Evidence-ledger trials and report for bench/ledger.sh (stdlib only).

  ledger.py am --port-file F --out JSONL
      a fake Alertmanager on 127.0.0.1 (any port, written to F): every
      request, with its CLOCK_MONOTONIC arrival and the alerts it carried,
      one JSON line in JSONL; answers 200 to everything
  ledger.py stall --config NAME --round R --log LOG --dev DEV --ctl CTL
                  --stall-ms T --trials N --am JSONL --metrics HOST:PORT --out OUT
      detect.py's stall -> stalled trial (fault disk stalled, one O_DIRECT
      read, lag = event mono_ns - (read start + T)), plus the alerts: the
      firing SanwatchDeviceStalled POST after the read began and the resolved
      one after the return to ok; at the end the agent's ledger counters
      (/metrics) for the block
  ledger.py check --config NAME --verify JSON --dev DEV --logs LOG... --out OUT
      one configuration's ledger file after its agents stopped (the output of
      `sanwatch-ledger-cost --verify`): incidents and state rows of DEV, and
      the state changes its agents announced on stderr (LOGs), to compare
  ledger.py report --trials OUT --cost COST.json [--cost-slow SLOW.json]
                   --meta META --results RESULTS.md
      rewrites the <!-- ledger:begin --> ... <!-- ledger:end --> section
"""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import detect as dt  # noqa: E402

SECTION = "ledger"
CONFIGS = ["local", "slow", "stalled"]
LUNS_EXTRAPOLATED = 100
MINUTE_DAYS, HOUR_DAYS = 35, 400  # [ledger] minute_rollups and retention defaults


# ---------------------------------------------------------------- fake Alertmanager

def run_am(a):
    lock = threading.Lock()
    out = open(a.out, "a")

    def record(rec):
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Alertmanager; curl reuses it

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            t = bl.mono_ns()
            try:
                alerts = json.loads(body)
            except ValueError:
                alerts = None
            record({"mono_ns": t, "method": "POST", "path": self.path, "alerts": alerts})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            record({"mono_ns": bl.mono_ns(), "method": "GET", "path": self.path})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, a.port_file)
    srv.serve_forever()


class AmLog:
    """The fake Alertmanager's requests, followed through its JSONL file."""

    def __init__(self, path):
        self.f = open(path)
        self.buf = ""
        self.recs = []

    def pump(self):
        chunk = self.f.read()
        if chunk:
            self.buf += chunk
            *done, self.buf = self.buf.split("\n")
            for line in done:
                if line.strip():
                    self.recs.append(json.loads(line))

    def wait(self, pred, after_ns, timeout):
        """The first (request, alert) after after_ns whose alert matches pred."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            for r in self.recs:
                if r["mono_ns"] < after_ns or r.get("method") != "POST":
                    continue
                for al in r.get("alerts") or []:
                    if pred(al):
                        return r, al
            if time.monotonic() > deadline:
                return None, None
            time.sleep(0.002)


def stalled_alert(dev, firing):
    def pred(al):
        lab = al.get("labels", {})
        return (lab.get("alertname") == "SanwatchDeviceStalled" and lab.get("device") == dev
                and (not al.get("endsAt")) == firing)
    return pred


def scrape_ledger(metrics):
    """sanwatch_ledger_* of the agent's /metrics, as numbers."""
    try:
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError as e:
        return {"error": str(e)}
    out = {}
    for line in text.splitlines():
        if line.startswith("sanwatch_ledger_"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


# ---------------------------------------------------------------- trials

def run_stall(a):
    name = os.path.basename(a.dev)
    t = dt.Target(a.log, name)
    am = AmLog(a.am)
    thr_ns = int(a.stall_ms * 1e6)
    offs = dt.offsets(a.dev)
    m0 = dict(bl.machine_cpu(), t=time.monotonic())
    fails = 0
    for i in range(1, a.trials + 1):
        if not t.settle(a.settle_timeout):
            sys.exit(f"ledger: {name} not ok after {a.settle_timeout} s (state {t.state})")
        time.sleep(random.uniform(0.05, 0.25))  # random phase against the agent's tick
        dt.ctl(a.ctl, "stall")
        r = dt.Reader(a.dev, next(offs))
        ev = t.wait("stalled", a.stall_ms / 1000 + 10, after_ns=r.t_before)
        dt.ctl(a.ctl, "release")
        if not r.join(10):
            sys.exit("ledger: the stalled read did not return after release")
        base = {"kind": "trial", "config": a.config, "round": a.round, "trial": i}
        if ev is None:
            fails += 1
            dt.progress(i, a.trials, f"{a.config}: no stalled event within threshold + 10 s")
            bl.append_jsonl(a.out, dict(base, missed=True))
            continue
        lag_ms = (ev["mono_ns"] - r.t_before - thr_ns) / 1e6
        rec = dict(base, lag_ms=lag_ms, lag_kernel_ms=ev["inflight_oldest_s"] * 1e3 - a.stall_ms,
                   reason=ev.get("reason"))
        post, _ = am.wait(stalled_alert(name, True), r.t_before, 5)
        rec["alert_fired"] = post is not None
        if post:
            rec["alert_lag_ms"] = (post["mono_ns"] - r.t_before - thr_ns) / 1e6
            rec["alert_after_event_ms"] = (post["mono_ns"] - ev["mono_ns"]) / 1e6
        # Resolved when the state leaves stalled (to slow, as the stuck read
        # completes late, or to ok).
        res, _ = am.wait(stalled_alert(name, False), ev["mono_ns"], 5)
        rec["alert_resolved"] = res is not None
        ok = t.wait("ok", a.settle_timeout, after_ns=ev["mono_ns"])
        rec["back_ok"] = ok is not None
        # Every alert of the episode: up to the resolve that the return to ok sends.
        last = None
        if ok:
            last, _ = am.wait(lambda al: al.get("endsAt") and
                              al.get("labels", {}).get("device") == name, ok["mono_ns"], 5)
        end = last["mono_ns"] if last else bl.mono_ns()
        am.pump()
        posts = [p for p in am.recs if p.get("method") == "POST"
                 and r.t_before <= p["mono_ns"] <= end]
        rec["posts"] = len(posts)
        rec["alerts"] = sum(len(p.get("alerts") or []) for p in posts)
        bl.append_jsonl(a.out, rec)
        fired = f"alert +{rec['alert_after_event_ms']:.1f} ms" if post else "NO ALERT"
        dt.progress(i, a.trials, f"{a.config}: stalled {lag_ms:+.3f} ms after start + threshold, "
                                 f"{fired}, resolved {'yes' if rec.get('alert_resolved') else 'NO'}"
                                 f", {rec['alerts']} alerts in {rec['posts']} POSTs")
    m1 = dict(bl.machine_cpu(), t=time.monotonic())
    dtot = (m1["total"] - m0["total"]) or 1
    bl.append_jsonl(a.out, {
        "kind": "block", "config": a.config, "round": a.round, "trials": a.trials, "missed": fails,
        "wall_s": m1["t"] - m0["t"],
        "machine_busy_cpus": (m1["busy"] - m0["busy"]) / bl.CLK_TCK / (m1["t"] - m0["t"]),
        "steal_pct": 100.0 * (m1["steal"] - m0["steal"]) / dtot,
        "loadavg": open("/proc/loadavg").read().split()[0],
        "ledger": scrape_ledger(a.metrics)})
    return 1 if fails == a.trials else 0


def run_check(a):
    try:
        v = json.load(open(a.verify))
    except (OSError, ValueError) as e:
        v = {"error": str(e)}
    by = v.get("by_kind_target", {})
    name = os.path.basename(a.dev)
    announced = 0
    for path in a.logs:
        for ev in bl.AgentLog(path, from_start=True).lines():
            announced += ev.get("event") == "state" and ev.get("target") == name
    bl.append_jsonl(a.out, {
        "kind": "check", "config": a.config, "chains_ok": v.get("chains_ok"),
        "integrity": v.get("integrity"), "rows": v.get("rows"), "why": v.get("why"),
        "incidents": by.get("incident", {}).get(name, 0),
        "states": by.get("state", {}).get(name, 0), "announced": announced,
        "starts": by.get("start", {}).get("", 0), "stops": by.get("stop", {}).get("", 0),
        "error": v.get("error")})
    return 0


# ---------------------------------------------------------------- report

def f(x, digits=2):
    return bl.fmt(x, digits)


def mib(b):
    return None if b is None else b / 1048576


def human_bytes(b):
    if b is None:
        return "–"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= div:
            return f"{b / div:,.2f} {unit}"
    return f"{b:,.0f} B"


def cost_tables(cost, slow):
    """The cost part of the section: rows, bytes, CPU, commits, retention."""
    o = cost["options"]
    day = cost["day"]
    luns = o["luns"]
    days = day["simulated_s"] / 86400.0
    per_day = 1.0 / days
    scale = LUNS_EXTRAPOLATED / luns
    mins, hrs = cost["minutes"], cost["hours"]
    out = []

    # rows per day
    rows = []
    total = 0
    for r in mins["rows"]:
        n = r["rows"] * per_day
        total += n
        rows.append([f"`{r['chain']}`", f"`{r['kind']}`", f"{n:,.0f}", f"{n / luns:,.1f}",
                     f"{r['body_bytes'] / r['rows']:,.0f}", f"{r['column_bytes'] / r['rows']:,.0f}"])
    rows.append(["**all**", "", f"**{total:,.0f}**", f"**{total / luns:,.1f}**", "", ""])
    out += ["#### Rows per day", "",
            f"{luns} LUNs = {luns} maps + {luns * o['paths_per_lun']} paths = "
            f"{luns * (1 + o['paths_per_lun'])} targets. `start`/`stop` are once per agent run, "
            "not per day. body = the JSON body; columns = every column (chain, kind, target, "
            "body, both hashes, seq and ts_ms as 8 bytes each): what SQLite stores before its "
            "own record and page overhead.", "",
            bl.md_table(["chain", "kind", "rows / day", "rows / LUN / day", "body bytes / row",
                         "column bytes / row"], rows, list("llrrrr")), ""]

    # bytes
    def b_row(label, b, note="", rate=True):
        if b is None:
            return [label, "–", "–", note]
        if not rate:  # a size, not bytes per day
            return [label, human_bytes(b), "–", note]
        return [label, human_bytes(b * per_day), human_bytes(b * per_day / luns), note]

    bt = mins.get("btrees", {})
    payload = sum(r["column_bytes"] for r in mins["rows"])
    brows = [
        b_row("**ledger file** after `wal_checkpoint(TRUNCATE)` (as written)", mins["file_bytes"],
              f"{mins['page_count']:,} pages of {mins['page_size']} B, {mins['freelist_count']} free"),
        b_row("pages in use", mins["used_bytes"]),
        b_row("the same rows vacuumed (`VACUUM INTO`)", mins["vacuumed_bytes"]),
        b_row("row columns (payload, no SQLite overhead)", payload),
    ]
    for name, v in sorted(bt.items()):
        if not name.startswith("entries"):
            continue  # schema and meta: one page each
        brows.append(b_row(f"b-tree `{name}` (dbstat)", v["bytes"],
                           f"payload {human_bytes(v['payload'] * per_day)}"))
    brows.append(b_row("`-wal` file while the writer runs (largest seen)", day.get("wal_max_bytes"),
                       "auto-checkpoints at 1000 pages; the file keeps its size", rate=False))
    cmp_ = cost["compaction"]
    hour_rows = sum(r["rows"] for r in hrs["rows"] if r["chain"] == "hours")
    brows += [
        b_row("**after `compact_minutes`**: file as is", hrs["file_bytes"],
              f"{hrs['freelist_count']:,} of {hrs['page_count']:,} pages free: SQLite reuses "
              "them, the file does not shrink", rate=False),
        b_row("pages in use", hrs["used_bytes"]),
        b_row("**hour rows + events, vacuumed**", hrs["vacuumed_bytes"],
              f"{hour_rows * per_day:,.0f} hour rows / day"),
        b_row("events chain alone, vacuumed", cost["events_only_vacuumed_bytes"],
              "incidents, state changes, start/stop"),
        b_row("`-wal` file after the compaction's transaction", hrs["wal_bytes_before_checkpoint"],
              "one hour's fold per transaction; journal_size_limit (4 MiB) truncates the file "
              "back after checkpoints", rate=False),
    ]
    out += ["#### Bytes", "",
            "Per day for the whole fleet and per LUN (a map with its paths). The file sizes "
            "are the ledger written by the real writer; \"vacuumed\" copies pack the same rows "
            "tightly (a long-running ledger reuses freed pages and lands between the two).", "",
            bl.md_table(["figure", f"{luns} LUNs / day", "per LUN / day", "note"], brows,
                        list("lrrl")), ""]

    # CPU
    wcpu = day["writer_cpu_ns"] / 1e9 * per_day
    rcpu = day["recorder_cpu_ns"] / 1e9 * per_day
    nrows = day["rows_committed"]
    samples = day["samples"]
    targets = luns * (1 + o["paths_per_lun"])
    crows = [
        ["writer thread (`sanwatch-ledger`): CPU per day", f"{wcpu:,.2f} s",
         f"{100 * wcpu / 86400:.4f} % of a core; "
         f"{day['writer_cpu_ns'] / 1e3 / max(nrows, 1):,.1f} µs per row, "
         f"{day['writer_cpu_ns'] / 1e3 / max(day['commits'], 1):,.0f} µs per commit "
         f"({day['commits'] * per_day:,.0f} commits / day)"],
        ["recorder on the event loop: CPU per day", f"{rcpu:,.2f} s",
         f"{100 * rcpu / 86400:.4f} % of a core; "
         f"{day['recorder_cpu_ns'] / 1e3 / max(samples, 1):,.0f} µs per 1 s sample of "
         f"{targets} targets ({day['recorder_cpu_ns'] / max(samples * targets, 1):,.0f} ns per "
         "target)"],
        ["writer thread with the daily compaction", f"{wcpu + cmp_['cpu_s'] * per_day:,.2f} s",
         f"{100 * (wcpu + cmp_['cpu_s'] * per_day) / 86400:.4f} % of a core"],
        ["`compact_minutes` of the day (writer thread, once a day)", f"{cmp_['cpu_s']:,.2f} s",
         f"{cmp_['wall_s']:,.2f} s wall, {cmp_['minute_rows_folded']:,} minute rows folded; "
         f"peak RSS {mib(cmp_['hwm_kib'] * 1024):,.0f} MiB (before: "
         f"{mib(cmp_['rss_before_kib'] * 1024):,.0f} MiB)"],
    ]
    out += ["#### CPU", "",
            "Thread CPU (`CLOCK_THREAD_CPUTIME_ID`, user + system): the writer's from "
            "`LedgerCounters::writer_cpu_ns` (SQLite, hashing, JSON, the fsyncs' system time), "
            "the recorder's around its calls on the simulating thread (what the agent's event "
            "loop would spend: copying snapshots, minute books, building rows, queueing). "
            f"The simulation waited for each commit before the next simulated second, so "
            f"commits batch as in the agent (one per loop iteration that pushed rows).", "",
            bl.md_table(["figure", "value", "detail"], crows, list("lrl")), ""]

    # commits
    def c_rows(where, cl):
        fs_ = cl.get("filesystem", {})
        desc = f"{fs_.get('type', '?')} on {fs_.get('source', '?')}"
        res = []
        for key, label in (("one_row", "one `state` row"), ("minute_burst", "a minute's rows")):
            c = cl.get(key)
            if not c:
                continue
            n = c["rows_per_commit"]
            res.append([where, desc, f"{label} ({n} row{'' if n == 1 else 's'})", c["commits"],
                        f(c["p50_ms"]), f(c["p99_ms"]), f(c["max_ms"])])
        return res
    kr = c_rows("bench directory", cost["commit_latency"])
    if slow:
        kr += c_rows(slow.get("where", "slow ledger disk"), slow["commit_latency"])
    out += ["#### Commit latency", "",
            "`LedgerStore::append` (BEGIN IMMEDIATE, inserts, COMMIT) timed around each call, "
            "WAL mode, `synchronous = FULL` (as the agent opens it): each commit waits for "
            "an fsync of the WAL.", "",
            bl.md_table(["where", "filesystem", "commit", "commits", "p50 ms", "p99 ms", "max ms"],
                        kr, list("lllrrrr")), ""]

    # retention
    vm, ve, vh = mins["vacuumed_bytes"], cost["events_only_vacuumed_bytes"], hrs["vacuumed_bytes"]
    m_day = (vm - ve) * per_day * scale
    h_day = (vh - ve) * per_day * scale
    e_day = ve * per_day * scale
    rc = {(r["chain"], r["kind"]): r["rows"] * per_day * scale for r in mins["rows"]}
    minute_rows_day = sum(v for (c, k), v in rc.items() if c == "minutes")
    event_rows_day = sum(v for (c, k), v in rc.items() if c == "events")
    hour_rows_day = hour_rows * per_day * scale
    steady = MINUTE_DAYS * m_day + HOUR_DAYS * (h_day + e_day)
    steady_rows = MINUTE_DAYS * minute_rows_day + HOUR_DAYS * (hour_rows_day + event_rows_day)
    no_compact = HOUR_DAYS * (m_day + e_day)
    issue_rows = LUNS_EXTRAPOLATED * 525_600
    per_minute_row = m_day / minute_rows_day if minute_rows_day else 0
    rrows = [
        [f"minute rows, {MINUTE_DAYS} days", f"{MINUTE_DAYS * minute_rows_day / 1e6:,.2f} M",
         human_bytes(MINUTE_DAYS * m_day), f"{human_bytes(m_day)} / day"],
        [f"hour rows, {HOUR_DAYS} days", f"{HOUR_DAYS * hour_rows_day / 1e6:,.2f} M",
         human_bytes(HOUR_DAYS * h_day), f"{human_bytes(h_day)} / day"],
        [f"events, {HOUR_DAYS} days (at this day's incident rate)",
         f"{HOUR_DAYS * event_rows_day / 1e6:,.3f} M", human_bytes(HOUR_DAYS * e_day),
         f"{human_bytes(e_day)} / day"],
        ["**steady-state ledger**", f"**{steady_rows / 1e6:,.2f} M**", f"**{human_bytes(steady)}**",
         f"{human_bytes(steady / LUNS_EXTRAPOLATED)} per LUN"],
        [f"without compaction: minutes for {HOUR_DAYS} days",
         f"{HOUR_DAYS * (minute_rows_day + event_rows_day) / 1e6:,.1f} M", human_bytes(no_compact),
         f"{no_compact / steady:,.1f}× the compacted ledger" if steady else ""],
        ["the issue's arithmetic: 1 row per LUN per minute, a year",
         f"{issue_rows / 1e6:,.1f} M", human_bytes(issue_rows * per_minute_row),
         f"at the measured {per_minute_row:,.0f} B per minute row; the fleet writes "
         f"{minute_rows_day * 365 / 1e6:,.1f} M minute rows a year (maps and paths each have "
         "minute rows, plus `alive`)"],
    ]
    out += [f"#### Retention: {LUNS_EXTRAPOLATED} LUNs, {MINUTE_DAYS} days of minutes + "
            f"{HOUR_DAYS} days of hours", "",
            f"Extrapolated from the vacuumed copies, scaled to {LUNS_EXTRAPOLATED} LUNs: minute "
            "bytes / day = all rows − events; hour bytes / day = compacted − events "
            f"([ledger] `minute_rollups = \"{MINUTE_DAYS}d\"`, `retention = \"{HOUR_DAYS}d\"`, "
            "the defaults).", "",
            bl.md_table(["part", "rows", "bytes", "note"], rrows, list("lrrl")), ""]
    wal_c = hrs["wal_bytes_before_checkpoint"]
    out += ["#### What stands out", "",
            f"- **Minute rows are the ledger**: {minute_rows_day / max(total * scale, 1) * 100:.2f} % "
            f"of the rows and {human_bytes(m_day / LUNS_EXTRAPOLATED)} (vacuumed) per LUN per "
            "day; every "
            f"target (map and each path) has one per minute because canaries give every "
            f"target I/O. {MINUTE_DAYS} days of them are "
            f"{MINUTE_DAYS * m_day / steady * 100 if steady else 0:.0f} % of the steady-state "
            "ledger.",
            f"- **`compact_minutes` streams**: it folded {cmp_['minute_rows_folded']:,} minute "
            f"rows with a peak RSS of {mib(cmp_['hwm_kib'] * 1024):,.0f} MiB (from "
            f"{mib(cmp_['rss_before_kib'] * 1024):,.0f} MiB): the rows older than the cutoff are "
            "read in order (`for_each_range`) and folded one hour per transaction, so the "
            "writer's other commits wait for one hour's fold at most. In the agent it runs on "
            "the writer thread, step-wise in its daily maintenance. The day took "
            f"{cmp_['wall_s']:.1f} s wall.",
            f"- **The WAL stays small**: the compaction's writes went through the WAL "
            f"({human_bytes(wal_c)} after its transactions, "
            f"{human_bytes(hrs.get('wal_bytes_after_passive_checkpoint'))} after a "
            "`wal_checkpoint(PASSIVE)`); `journal_size_limit = 4 MiB` truncates the `-wal` "
            "file back after checkpoints while the writer's connection stays open.",
            ""]
    summary = {"bytes_lun_day_minutes": mins["file_bytes"] * per_day / luns,
               "bytes_lun_day_hours": (vh - ve) * per_day / luns,
               "bytes_lun_day_hours_events": vh * per_day / luns,
               "rows_day": total, "writer_cpu_s_day": wcpu,
               "writer_us_row": day["writer_cpu_ns"] / 1e3 / max(nrows, 1),
               "recorder_cpu_s_day": rcpu, "steady_bytes": steady, "steady_rows": steady_rows,
               "commit_p50_ms": cost["commit_latency"]["one_row"]["p50_ms"],
               "commit_p99_ms": cost["commit_latency"]["one_row"]["p99_ms"],
               "commit_fs": "{type} on {source}".format(**cost["commit_latency"]["filesystem"]),
               "compaction_cpu_s": cmp_["cpu_s"] * per_day, "compaction_hwm_kib": cmp_["hwm_kib"],
               "no_compact_bytes": no_compact, "minute_share": minute_rows_day / max(total * scale, 1),
               "luns": luns}
    if slow:
        summary["slow_commit_p50_ms"] = slow["commit_latency"]["one_row"]["p50_ms"]
    return out, summary


def report(a):
    recs = bl.read_jsonl(a.trials)
    meta = bl.read_meta(a.meta)
    cost = json.load(open(a.cost)) if a.cost and os.path.exists(a.cost) else None
    slow = json.load(open(a.cost_slow)) if a.cost_slow and os.path.exists(a.cost_slow) else None
    if cost and not meta.get("sqlite"):
        meta["sqlite"] = f"{cost['sqlite_version']} (the system's libsqlite3)"
    if slow:
        slow["where"] = f"ledger disk, write delay {meta.get('write_delay', '?')}"
    trials = [r for r in recs if r.get("kind") == "trial" and not r.get("missed")]
    missed = [r for r in recs if r.get("kind") == "trial" and r.get("missed")]
    blocks = [r for r in recs if r.get("kind") == "block"]
    checks = {r["config"]: r for r in recs if r.get("kind") == "check"}

    out = bl.section_head(SECTION, "Evidence ledger", "bench/ledger.sh", meta,
                          "a short simulated window, few LUNs and 2 trials per configuration")
    out += ["### Environment", "", bl.env_table(meta, [
        "date", "nproc", "memory", "cpu", "virt", "kernel", "clocksource", "sanwatch", "sqlite",
        "load_at_start", "cost_model", "device", "ledger_disk", "agent", "trials_layout"]), ""]
    summary_at = len(out)  # the summary goes here once everything is computed

    summary = {}
    if cost:
        out += ["### Cost of a day (`sanwatch-ledger-cost`)", "",
                meta.get("cost_note", ""), ""]
        part, summary = cost_tables(cost, slow)
        out += part

    # detection
    by = {c: [r for r in trials if r["config"] == c] for c in CONFIGS}
    base = bl.pctl([r["lag_ms"] for r in by["local"]], 50) if by["local"] else None
    rows, verdicts = [], []
    for c in CONFIGS:
        xs = [r["lag_ms"] for r in by[c]]
        if not xs:
            continue
        p50 = bl.pctl(xs, 50)
        ks = [r["lag_kernel_ms"] for r in by[c]]
        al = [r["alert_lag_ms"] for r in by[c] if r.get("alert_lag_ms") is not None]
        ae = [r["alert_after_event_ms"] for r in by[c] if r.get("alert_after_event_ms") is not None]
        fired = sum(1 for r in by[c] if r.get("alert_fired"))
        resolved = sum(1 for r in by[c] if r.get("alert_resolved"))
        n_alerts = sum(r.get("alerts", 0) for r in by[c])
        n_posts = sum(r.get("posts", 0) for r in by[c])
        n_all = len(xs) + sum(1 for r in missed if r["config"] == c)
        ratio = p50 / base if base else None
        rows.append([f"`{c}`", f"{len(xs)} of {n_all}", f(p50, 3), f(bl.pctl(xs, 99), 3),
                     f(max(xs), 3), f(min(xs), 3),
                     f(ratio, 2) if c != "local" and ratio is not None else "–",
                     f(p50 - base, 3) if c != "local" and base is not None else "–",
                     f(bl.pctl(ks, 50), 3), f"{fired} / {len(xs)}",
                     f(bl.pctl(al, 50), 2) if al else "–", f(bl.pctl(ae, 50), 2) if ae else "–",
                     f"{resolved} / {len(xs)}", f"{n_alerts} in {n_posts}"])
        if c != "local" and base is not None:
            ok = abs(p50 - base) <= 1.0 and max(xs) < 100 and fired == len(xs) == n_all
            verdicts.append(f"`{c}`: {'unchanged' if ok else '**CHANGED**'} "
                            f"(Δp50 {p50 - base:+.3f} ms, max {max(xs):.1f} ms, "
                            f"{fired} of {n_all} alerts)")
            summary[f"lag_{c}"] = p50
        else:
            summary["lag_local"] = p50
    head = ["ledger", "trials", "p50 ms", "p99 ms", "max ms", "min ms", "p50 ÷ local",
            "p50 − local ms", "kernel age − threshold p50 ms", "firing alerts",
            "alert POST − (read + threshold) p50 ms", "alert POST − event p50 ms",
            "resolved alerts", "alerts received (in POSTs)"]
    out += ["### Detection with the ledger on a slow or stalled disk", "",
            f"detect.sh's stall → `stalled` trial (fault disk `stall`, one 4 KiB O_DIRECT read, "
            f"lag = event `mono_ns` − (read start + {meta.get('stall', '?')})) with the agent's "
            "ledger in three places: **local** = a directory on the bench's own disk (as "
            "deployed); **slow** = an ext4 filesystem on a second FUSE fault disk with "
            f"`write_delay {meta.get('write_delay', '?')}` (every write to the ledger's disk "
            "takes that long, so every commit waits on it); **stalled** = the same disk "
            "`stall`ed (no ledger write completes until the block ends). The fault on the "
            "ledger disk is set once the agent is ready, 0.3 s before the block's trials, and "
            "lifted after them. Alerts go to a fake Alertmanager (`ledger.py am`, a Python "
            "HTTP listener on 127.0.0.1) whose arrival stamps are CLOCK_MONOTONIC after the "
            "request body was read; \"firing\" = the `SanwatchDeviceStalled` alert after the "
            "read began, \"resolved\" = the same alert with `endsAt` (sent when the state "
            "leaves `stalled`: to `slow` as the stuck read completes late, then `ok`); alerts "
            "received = every alert in the POSTs from the read's start to the resolve sent "
            "with the return to `ok`. "
            "Percentiles interpolate linearly (p99 of < 100 trials ≈ the max).", "",
            bl.md_table(head, rows, list("lrrrrrrrrrrrrr")) if rows else "(no trials)", ""]
    if verdicts:
        out += ["Verdict (unchanged = |Δp50| ≤ 1 ms against `local`, no lag ≥ 100 ms — a single "
                f"ledger write in the detection path would add ≥ {meta.get('write_delay', '?')} "
                "— and every trial detected and alerted): " + "; ".join(verdicts) + ".", ""]

    # ledger counters per block and the files afterwards
    lrows = []
    for c in CONFIGS:
        bs = [b for b in blocks if b["config"] == c]
        if not bs:
            continue
        g = lambda k: sum(b["ledger"].get(k, 0) for b in bs)  # noqa: E731
        queued = max(b["ledger"].get("sanwatch_ledger_queue_rows", 0) for b in bs)
        ch = checks.get(c, {})
        inc = ch.get("incidents")
        st = ch.get("states")
        exp = len(by[c]) + sum(1 for r in missed if r["config"] == c)
        lrows.append([f"`{c}`", len(bs), f"{g('sanwatch_ledger_rows_total'):,.0f}",
                      f"{g('sanwatch_ledger_dropped_rows_total'):,.0f}",
                      f"{g('sanwatch_ledger_write_errors_total'):,.0f}", f"{queued:,.0f}",
                      f"{g('sanwatch_ledger_writer_cpu_seconds_total'):.3f}",
                      "–" if inc is None else f"{inc} / {exp}",
                      "–" if st is None else f"{st} / {ch.get('announced', '?')}",
                      "–" if not ch else ("ok" if ch.get("chains_ok") else "**BAD**") + ", "
                      + ("ok" if ch.get("integrity") == "ok" else f"**{ch.get('integrity')}**")])
    if lrows:
        out += ["#### The ledgers", "",
                "From each agent's `/metrics` at the end of its block, before the fault was "
                "lifted (summed over the blocks; queue = the largest), and from the ledger files "
                "after every agent stopped (`sanwatch-ledger-cost --verify`: every chain "
                "recomputed, `PRAGMA integrity_check`). Expected: one incident per trial, and "
                "a state row for every state change the agents announced on stderr "
                "(`ok` → `stalled` → `slow` → `ok`: the stuck read completes late).", "",
                bl.md_table(["ledger", "agent runs", "rows committed", "rows dropped",
                             "write errors", "queue at block end", "writer CPU s",
                             "incidents / trials", "state rows / announced", "chains, integrity"],
                            lrows, list("lrrrrrrrrl")), ""]

    sm = []
    if cost:
        n = summary["luns"]
        sm += [f"- **Rows**: {summary['rows_day']:,.0f} a day for {n} LUNs "
               f"({summary['rows_day'] / n:,.0f} per LUN), {summary['minute_share'] * 100:.2f} % of "
               "them in the minutes chain.",
               f"- **Bytes per LUN per day**: {human_bytes(summary['bytes_lun_day_minutes'])} with "
               "minute rows (the file after a TRUNCATE checkpoint); "
               f"{human_bytes(summary['bytes_lun_day_hours'])} once compacted into hour rows "
               f"({human_bytes(summary['bytes_lun_day_hours_events'])} with the events).",
               f"- **Retention**, {LUNS_EXTRAPOLATED} LUNs, {MINUTE_DAYS} days of minutes + "
               f"{HOUR_DAYS} days of hours: {human_bytes(summary['steady_bytes'])} "
               f"({summary['steady_rows'] / 1e6:,.1f} M rows); without compaction "
               f"{human_bytes(summary['no_compact_bytes'])}.",
               f"- **Writer thread CPU**: {summary['writer_cpu_s_day']:.1f} s a day "
               f"({summary['writer_us_row']:.1f} µs per row), plus "
               f"{summary['compaction_cpu_s']:.1f} s for the daily compaction (peak RSS "
               f"{summary['compaction_hwm_kib'] / 1024:,.0f} MiB); the recorder "
               f"{summary['recorder_cpu_s_day']:.1f} s a day on the event loop.",
               f"- **Commit latency** (`synchronous = FULL`, {summary['commit_fs']}): p50 "
               f"{summary['commit_p50_ms']:.2f} ms, p99 {summary['commit_p99_ms']:.2f} ms for one "
               "row" + (f"; {summary['slow_commit_p50_ms']:,.0f} ms on the slow ledger disk."
                        if "slow_commit_p50_ms" in summary else ".")]
    if "lag_local" in summary:
        parts = [f"local {summary['lag_local']:.3f} ms"]
        for c in ("slow", "stalled"):
            if f"lag_{c}" in summary:
                parts.append(f"{c} {summary[f'lag_{c}']:.3f} ms "
                             f"(× {summary[f'lag_{c}'] / summary['lag_local']:.2f})")
        fired = sum(1 for r in trials if r.get("alert_fired"))
        sm += [f"- **stall → `stalled` lag, median**: {', '.join(parts)}; {fired} of "
               f"{len(trials) + len(missed)} trials alerted."]
    if sm:
        out[summary_at:summary_at] = ["### Summary", ""] + sm + [""]

    obs = []
    for c in CONFIGS:
        bs = [b for b in blocks if b["config"] == c]
        if bs:
            busy = bl.med([b["machine_busy_cpus"] for b in bs])
            steal = bl.med([b["steal_pct"] for b in bs])
            obs.append(f"- `{c}`: {len(bs)} block(s), machine busy {busy:.2f} of {os.cpu_count()} "
                       f"CPUs (median over blocks, all processes incl. this benchmark), steal "
                       f"{steal:.1f} %, loadavg {', '.join(b['loadavg'] for b in bs)}")
    for c in CONFIGS:
        if by[c]:
            top = max(by[c], key=lambda r: r["lag_ms"])
            firsts = sum(1 for r in sorted(by[c], key=lambda r: -r["lag_ms"])[:3] if r["trial"] == 1)
            obs.append(f"- `{c}`: largest lag {top['lag_ms']:.3f} ms in round {top['round']}, trial "
                       f"{top['trial']} of its agent run; {firsts} of its 3 largest were the first "
                       "trial of an agent run")
    if missed:
        obs.append(f"- trials without a `stalled` event: {len(missed)}")
    for k in ("notes", "shared"):
        if meta.get(k):
            obs.append(f"- {meta[k]}")
    out += ["### Observations", ""] + obs + ["", f"<!-- {SECTION}:end -->"]
    bl.write_section(a.results, SECTION, "\n".join(out) + "\n")

    print()
    if cost:
        print(f"cost: {summary['rows_day']:,.0f} rows/day; "
              f"{human_bytes(summary['bytes_lun_day_minutes'])} per LUN per day with minutes, "
              f"{human_bytes(summary['bytes_lun_day_hours'])} of hour rows "
              f"({human_bytes(summary['bytes_lun_day_hours_events'])} with events); writer "
              f"{summary['writer_cpu_s_day']:.1f} s CPU/day ({summary['writer_us_row']:.1f} µs/row); "
              f"commit p50 {summary['commit_p50_ms']:.2f} ms p99 {summary['commit_p99_ms']:.2f} ms; "
              f"steady state {LUNS_EXTRAPOLATED} LUNs {human_bytes(summary['steady_bytes'])}")
    if rows:
        print(bl.plain_table(head[:10], [r[:10] for r in rows]))
    for v in verdicts:
        print("  " + v.replace("**", "").replace("`", ""))
    print(f"written: {a.results}")
    return 0


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("am")
    p.add_argument("--port-file", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("stall")
    p.add_argument("--config", required=True, choices=CONFIGS)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--stall-ms", type=float, required=True)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--am", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--settle-timeout", type=float, default=60)
    p = sub.add_parser("check")
    p.add_argument("--config", required=True, choices=CONFIGS)
    p.add_argument("--verify", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--logs", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--trials", required=True)
    p.add_argument("--cost")
    p.add_argument("--cost-slow")
    p.add_argument("--meta", required=True)
    p.add_argument("--results", required=True)
    a = ap.parse_args()
    return {"am": run_am, "stall": run_stall, "check": run_check, "report": report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
