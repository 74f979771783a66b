#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that the Grafana dashboard and the Prometheus rules only use metrics
that exist.

  check_dashboard.py --source-dir DIR --dashboard FILE   # Grafana JSON
  check_dashboard.py --source-dir DIR --rules FILE       # Prometheus rules

The known metrics are not listed here: they are extracted from the source of
truth, exporters/metrics.cpp (the "sanwatch_*" string literals passed first to
f.counter / f.gauge / f.histogram; histograms also get _bucket, _sum and
_count), plus PENDING below, Prometheus' own `up`, and the names the rules
file records (`record:`), which dashboards and rules may use.

The dashboard check also requires valid JSON, the template variables
instance/device/map/array, unique panel ids, and that every $variable an
expression uses is defined. Exit status: 0 clean, 1 problems found, 2 usage
or input error. Python 3 standard library only.
"""

import argparse
import json
import re
import sys
from pathlib import Path

# PENDING: metrics that work in progress will add to exporters/metrics.cpp
# and that the rules or the dashboard already use under their final names.
# Remove each name once metrics.cpp exports it (the check prints a note).
PENDING: set = set()

# Series Prometheus itself adds for every scrape target.
PROMETHEUS_OWN = {"up"}

REQUIRED_VARIABLES = ("instance", "device", "map", "array")
GRAFANA_BUILTINS = {
    "__interval", "__interval_ms", "__rate_interval", "__range", "__range_s",
    "__range_ms", "__from", "__to", "__dashboard", "__name", "__org", "__user",
    "timeFilter", "__timeFilter",
}

# --------------------------------------------------------------------------
# metrics.cpp
# --------------------------------------------------------------------------

FAMILY_CALL = re.compile(r"\bf\s*\.\s*(counter|gauge|histogram)\s*\(\s*")
STRING_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def exported_metrics(metrics_cpp):
    """Metric family names from metrics.cpp -> {name: type} plus series names."""
    text = metrics_cpp.read_text()
    # Comments could mention f.counter("..."): drop them first.
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    families = {}
    problems = []
    for m in FAMILY_CALL.finditer(text):
        lit = STRING_LITERAL.match(text, m.end())
        if not lit:
            line = text.count("\n", 0, m.start()) + 1
            problems.append(
                f"{metrics_cpp}:{line}: f.{m.group(1)}( without a string literal first "
                "argument: cannot extract the metric name")
            continue
        name = lit.group(1)
        if not name.startswith("sanwatch_"):
            continue
        families[name] = m.group(1)
    if not families:
        problems.append(f"{metrics_cpp}: no f.counter/f.gauge/f.histogram(\"sanwatch_...\") calls found")
    series = set()
    for name, kind in families.items():
        # A classic histogram has no series under its family name.
        if kind == "histogram":
            series.update({name + "_bucket", name + "_sum", name + "_count"})
        else:
            series.add(name)
    return families, series, problems


# --------------------------------------------------------------------------
# PromQL: metric names used by an expression
# --------------------------------------------------------------------------

KEYWORDS = {
    # aggregation operators
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    # binary / set operators and modifiers
    "and", "or", "unless", "atan2", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right",
    # literals
    "inf", "nan",
}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"[0-9.][A-Za-z0-9_.]*")  # 1, 0.1, 1e3, 0x1f, 5m, 1h30m
GRAFANA_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]")


class PromQLError(Exception):
    pass


def grafana_variables(expr):
    return {next(g for g in m.groups() if g) for m in GRAFANA_VAR.finditer(expr)}


def skip_string(s, i):
    quote = s[i]
    i += 1
    while i < len(s):
        if s[i] == "\\" and quote != "`":
            i += 2
            continue
        if s[i] == quote:
            return i + 1
        i += 1
    raise PromQLError("unterminated string")


def skip_group(s, i, open_ch, close_ch):
    """s[i] == open_ch; returns (index after the matching close, inner text)."""
    depth = 0
    start = i
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = skip_string(s, i)
            continue
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1, s[start + 1:i]
        i += 1
    raise PromQLError(f"unbalanced {open_ch}{close_ch}")


def name_matchers(inner):
    """Metric names selected by __name__="..." inside {...}."""
    names = set()
    for m in re.finditer(r'__name__\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"', inner):
        if m.group(1) != "=":
            raise PromQLError(f"__name__{m.group(1)} matcher: cannot check metric names")
        names.add(m.group(2))
    return names


def metric_names(expr):
    """Every metric name an expression selects. Grafana variables are replaced
    by a number first (they only appear where numbers, durations or label
    values may)."""
    s = GRAFANA_VAR.sub("1", expr)
    names = set()
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "\"'`":
            i = skip_string(s, i)
        elif c == "{":
            i, inner = skip_group(s, i, "{", "}")
            names |= name_matchers(inner)
        elif c == "[":
            i, _ = skip_group(s, i, "[", "]")
        elif c == "#":  # comment to end of line
            j = s.find("\n", i)
            i = n if j < 0 else j
        elif c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit()):
            i = NUMBER.match(s, i).end()
        elif IDENT.match(s, i):
            m = IDENT.match(s, i)
            word = m.group(0)
            i = m.end()
            j = i
            while j < n and s[j].isspace():
                j += 1
            follows_paren = j < n and s[j] == "("
            low = word.lower()
            if low in LABEL_LIST_KEYWORDS:
                if follows_paren:
                    i, _ = skip_group(s, j, "(", ")")
            elif low in KEYWORDS or follows_paren:
                pass  # operator, or function/aggregation name
            else:
                names.add(word)
        else:
            i += 1  # operators, parentheses, commas
    return names


def grafana_query_metrics(query):
    """Metric names in a Grafana Prometheus variable query."""
    q = query.strip()
    m = re.fullmatch(r"label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)", q, re.S)
    if m:
        return metric_names(m.group(1))
    if re.fullmatch(r"label_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", q) or re.fullmatch(r"label_names\(\s*\)", q):
        return set()
    m = re.fullmatch(r"query_result\((.*)\)", q, re.S)
    if m:
        return metric_names(m.group(1))
    if q.startswith("metrics("):
        raise PromQLError("metrics() variable queries cannot be checked")
    return metric_names(q)


# --------------------------------------------------------------------------
# Prometheus rules file (a YAML subset, parsed without PyYAML)
# --------------------------------------------------------------------------

RULE_START = re.compile(r"^(\s*)-\s+(record|alert):\s*(.+?)\s*$")
EXPR_KEY = re.compile(r"^(\s*)expr:\s*(.*?)\s*$")


def unquote_yaml_scalar(v, where):
    if v.startswith("'"):
        if not v.endswith("'") or len(v) < 2:
            raise ValueError(f"{where}: multi-line quoted scalars are not supported")
        return v[1:-1].replace("''", "'")
    if v.startswith('"'):
        if not v.endswith('"') or len(v) < 2:
            raise ValueError(f"{where}: multi-line quoted scalars are not supported")
        return json.loads(v)
    return re.sub(r"\s+#.*$", "", v)


def parse_rules(path):
    """[(kind, name, expr, line)] from a rules file. Supports the forms the
    rules file uses: `expr:` with a plain/quoted scalar on one line, or a
    block scalar (| |- > >-) below it. Anything else is an error, so a rule
    can never be skipped silently."""
    lines = path.read_text().split("\n")
    rules = []
    current = None  # [kind, name, line]
    i = 0
    while i < len(lines):
        line = lines[i]
        m = RULE_START.match(line)
        if m:
            current = [m.group(2), unquote_yaml_scalar(m.group(3), f"{path}:{i + 1}"), i + 1]
            rules.append([current[0], current[1], None, current[2]])
            i += 1
            continue
        m = EXPR_KEY.match(line)
        if m:
            where = f"{path}:{i + 1}"
            if not rules or rules[-1][2] is not None:
                raise ValueError(f"{where}: expr outside a record/alert rule")
            indent = len(m.group(1))
            value = m.group(2)
            if re.fullmatch(r"[|>][+-]?", value):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                expr = "\n".join(body)
            elif value == "" or value[0] in "[{&*!|>":
                raise ValueError(f"{where}: unsupported YAML form for expr: {value!r}")
            else:
                expr = unquote_yaml_scalar(value, where)
                i += 1
            if not expr.strip():
                raise ValueError(f"{where}: empty expr")
            rules[-1][2] = expr
            continue
        i += 1
    for kind, name, expr, line in rules:
        if expr is None:
            raise ValueError(f"{path}:{line}: {kind} {name} has no expr this parser understands")
    if not rules:
        raise ValueError(f"{path}: no rules found")
    return [tuple(r) for r in rules]


# --------------------------------------------------------------------------
# Dashboard
# --------------------------------------------------------------------------

def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_dashboard(path, known):
    problems = []
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        return [f"{path}: invalid JSON: {e}"], 0
    if not isinstance(dash, dict):
        return [f"{path}: top level is not an object"], 0
    if dash.get("schemaVersion", 0) < 36:
        problems.append(f"{path}: schemaVersion {dash.get('schemaVersion')} < 36")
    for key in ("uid", "title", "panels", "templating"):
        if key not in dash:
            problems.append(f"{path}: missing {key!r}")

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    for name in REQUIRED_VARIABLES:
        if name not in variables:
            problems.append(f"{path}: template variable {name!r} missing")
    defined = set(variables) | GRAFANA_BUILTINS

    checked = 0

    def check_expr(expr, where, variable_query=False):
        nonlocal checked
        checked += 1
        names = grafana_query_metrics if variable_query else metric_names
        if check_metrics(names, expr, where, known, problems, f": {expr!r}") is None:
            return
        for var in sorted(grafana_variables(expr) - defined):
            problems.append(f"{where}: undefined variable ${var}")

    for name, v in variables.items():
        if v.get("type") == "query":
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query", "")
            if not q:
                problems.append(f"{path}: variable {name!r}: empty query")
                continue
            check_expr(q, f"{path}: variable {name!r}", variable_query=True)

    ids = {}
    for p in walk_panels(dash.get("panels", [])):
        title = p.get("title", "<untitled>")
        pid = p.get("id")
        if pid is None:
            problems.append(f"{path}: panel {title!r} has no id")
        elif pid in ids:
            problems.append(f"{path}: panel id {pid} used by {ids[pid]!r} and {title!r}")
        else:
            ids[pid] = title
        if p.get("type") == "row":
            continue
        targets = p.get("targets", [])
        if not targets and p.get("type") not in ("text", "dashlist", "news"):
            problems.append(f"{path}: panel {title!r} has no queries")
        refids = set()
        for t in targets:
            where = f"{path}: panel {pid} {title!r} target {t.get('refId')}"
            if t.get("refId") in refids:
                problems.append(f"{where}: duplicate refId")
            refids.add(t.get("refId"))
            expr = t.get("expr", "")
            if not expr.strip():
                problems.append(f"{where}: empty expr")
                continue
            check_expr(expr, where)
    return problems, checked


def check_metrics(names, expr, where, known, problems, shown=""):
    """The metrics `names(expr)` finds, each checked against `known`; problems
    are appended (`shown` after the parse error and the empty selection).
    None when the expression does not parse."""
    try:
        used = names(expr)
    except PromQLError as e:
        problems.append(f"{where}: {e}{shown}")
        return None
    if not used:
        problems.append(f"{where}: expression selects no metric{shown}")
    for m in sorted(used - known):
        problems.append(f"{where}: unknown metric {m!r}")
    return used


# A recording rule that records a constant, e.g. the availability SLO
# `sanwatch_slo_availability` (vector(0.9999)), which users override per
# array with rules of their own: it selects no metric, and that is fine.
CONSTANT_RECORD = re.compile(r"\s*vector\s*\(\s*[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?\s*\)\s*")


def check_rules(path, known):
    problems = []
    try:
        rules = parse_rules(path)
    except (OSError, ValueError) as e:
        return [str(e)], 0
    for kind, name, expr, line in rules:
        where = f"{path}:{line}: {kind} {name}"
        if kind == "record" and CONSTANT_RECORD.fullmatch(expr):
            continue  # a constant the other rules compare with (an SLO)
        check_metrics(metric_names, expr, where, known, problems)
    return problems, len(rules)


def self_test():
    """The checker's own tests: it must find names in tricky expressions and
    report unknown metrics in a broken dashboard and rules file."""
    import tempfile
    cases = {
        'sum by (job, le) (rate(a_bucket{le="0.1", x=~"$device"}[$__rate_interval]))': {"a_bucket"},
        "histogram_quantile(0.99, sum without (op) (rate(b[5m] offset 1h)))": {"b"},
        'x * on (map, path) group_left (array, target_port) y{array=~"$array"} or vector(0)': {"x", "y"},
        'label_replace(s{target="a{b}"}, "path", "$1", "target", "(.*)") == 1 unless z offset 10m': {"s", "z"},
        "count(up{job=\"sanwatch\"} == 0) > bool 1e3 and sum(rec:ord:rate5m) # c_comment": {"up", "rec:ord:rate5m"},
        'max_over_time(q[1h:5m]) / ignoring (le) r @ start()': {"q", "r"},
        '{__name__="named", a="b"}': {"named"},
        "topk($n, w)": {"w"},
    }
    failures = 0
    for expr, want in cases.items():
        got = metric_names(expr)
        if got != want:
            failures += 1
            print(f"self-test: metric_names({expr!r}) = {sorted(got)}, want {sorted(want)}", file=sys.stderr)
    if grafana_query_metrics('label_values(m1{instance=~"$instance"}, device)') != {"m1"}:
        failures += 1
        print("self-test: label_values() variable query", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bad_dash = tmp / "d.json"
        bad_dash.write_text(json.dumps({
            "uid": "x", "title": "x", "schemaVersion": 38,
            "templating": {"list": [{"name": "instance", "type": "query", "query": "label_values(up, instance)"}]},
            "panels": [{"id": 1, "type": "row", "panels": [
                {"id": 2, "type": "timeseries", "title": "t",
                 "targets": [{"refId": "A", "expr": 'rate(sanwatch_nope_total{device=~"$dev"}[5m])'}]}]}]}))
        problems, _ = check_dashboard(bad_dash, {"up"})
        text = "\n".join(problems)
        for needle in ("unknown metric 'sanwatch_nope_total'", "undefined variable $dev",
                       "template variable 'device' missing"):
            if needle not in text:
                failures += 1
                print(f"self-test: dashboard check did not report {needle!r}: {problems}", file=sys.stderr)
        (tmp / "broken.json").write_text("{")
        if not any("invalid JSON" in p for p in check_dashboard(tmp / "broken.json", set())[0]):
            failures += 1
            print("self-test: invalid JSON not reported", file=sys.stderr)
        bad_rules = tmp / "r.yml"
        bad_rules.write_text(
            "groups:\n  - name: g\n    rules:\n"
            "      - record: job:good:rate5m\n        expr: sum by (job) (rate(known_total[5m]))\n"
            "      - alert: A\n        expr: |\n          job:good:rate5m > 0\n"
            "          and\n          sanwatch_typo_total > 0\n        for: 1m\n"
            "      - alert: 'B'\n        expr: 'known_total > 0'\n"
            "      - record: slo_constant\n        expr: vector(0.9999)\n"
            "      - record: job:empty:rate5m\n        expr: vector(time())\n")
        rules = parse_rules(bad_rules)
        if [(k, n) for k, n, _, _ in rules] != [("record", "job:good:rate5m"), ("alert", "A"), ("alert", "B"),
                                                ("record", "slo_constant"), ("record", "job:empty:rate5m")]:
            failures += 1
            print(f"self-test: parse_rules: {rules}", file=sys.stderr)
        problems, _ = check_rules(bad_rules, {"known_total", "job:good:rate5m"})
        # The constant record is accepted; a record selecting nothing but not
        # a constant is not.
        if (len(problems) != 2 or "sanwatch_typo_total" not in problems[0]
                or "job:empty:rate5m: expression selects no metric" not in problems[1]):
            failures += 1
            print(f"self-test: rules check: {problems}", file=sys.stderr)
    print("self-test: " + ("FAILED" if failures else "OK"))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source-dir", type=Path, default=Path(__file__).resolve().parents[2],
                    help="sanwatch source tree (default: the one holding this script)")
    ap.add_argument("--rules", type=Path, help="Prometheus rules file to check")
    ap.add_argument("--dashboard", type=Path, help="Grafana dashboard JSON to check")
    ap.add_argument("--recording-rules", type=Path,
                    help="rules file whose recorded names count as known "
                         "(default: packaging/prometheus/sanwatch.rules.yml)")
    ap.add_argument("--list", action="store_true", help="print the known metric names")
    ap.add_argument("--self-test", action="store_true", help="test the checker itself")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.rules and not args.dashboard and not args.list:
        ap.error("nothing to check: give --rules and/or --dashboard")

    src = args.source_dir
    try:
        families, exported, problems = exported_metrics(src / "exporters" / "metrics.cpp")
        recording_file = args.recording_rules or src / "packaging" / "prometheus" / "sanwatch.rules.yml"
        recorded = {name for kind, name, _, _ in parse_rules(recording_file) if kind == "record"}
    except (OSError, ValueError) as e:
        print(f"check_dashboard: {e}", file=sys.stderr)
        return 2

    for name in sorted(PENDING & exported):
        print(f"note: pending metric {name} is now exported by metrics.cpp: "
              "remove it from PENDING in tests/rules/check_dashboard.py")
    known = exported | PENDING | PROMETHEUS_OWN | recorded
    if args.list:
        for name in sorted(known):
            print(name)

    summary = [f"{len(families)} families in metrics.cpp", f"{len(PENDING - exported)} pending",
               f"{len(recorded)} recorded"]
    if args.rules:
        p, n = check_rules(args.rules, known)
        problems += p
        summary.append(f"{n} rules checked")
    if args.dashboard:
        p, n = check_dashboard(args.dashboard, known)
        problems += p
        summary.append(f"{n} dashboard expressions checked")

    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    print(("FAILED: " if problems else "OK: ") + ", ".join(summary)
          + (f", {len(problems)} problem(s)" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
