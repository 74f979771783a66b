#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/mapcost.sh — BPF cost per I/O of several sanwatch builds in the same
# run (issue 17: map layouts). Each build traces a loop device over /dev/shm
# with `sanwatch hist` (the engine and programs the agent loads, without the
# agent's canaries) while fio runs with kernel.bpf_stats_enabled=1; builds
# are interleaved round by round so drift hits all alike.
#
#   bench/mapcost.sh [--rounds N] [--seconds S] LABEL=BINARY...
#
# Prints one line per run and, per build, the median ns per I/O (Σ Δrun_time
# of its programs / Δrun_cnt of its completion program), the median ns per
# run of issue and complete, and the median over rounds of its ratio to the
# first build in the same round. Root only; undoes everything on exit.
set -Eeuo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS=5 SECONDS_RUN=4
while [[ ${1:-} == --* ]]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--seconds) SECONDS_RUN=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds N] [--seconds S] LABEL=BINARY..." >&2; exit 2 ;;
	esac
done
(($# >= 1)) || { echo "usage: $0 [--rounds N] [--seconds S] LABEL=BINARY..." >&2; exit 2; }
((EUID == 0)) || { echo "mapcost.sh: needs root" >&2; exit 77; }

WORK=$(mktemp -d /tmp/sanwatch-mapcost.XXXXXX)
IMG=/dev/shm/sanwatch-mapcost.$$.img LOOP="" TRACER="" OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	set +e
	[[ -n $TRACER ]] && kill -INT "$TRACER" 2>/dev/null && wait "$TRACER" 2>/dev/null
	[[ -n $LOOP ]] && losetup -d "$LOOP"
	rm -f "$IMG"
	sysctl -qw kernel.bpf_stats_enabled="$OLD_STATS"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fallocate -l 1G "$IMG"
LOOP=$(losetup --direct-io=on --find --show "$IMG")
BP=(python3 "$BENCH_DIR/bpfprogs.py")
sysctl -qw kernel.bpf_stats_enabled=0
# One unrecorded warm-up.
fio --name=w --filename="$LOOP" --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
	--iodepth=32 --time_based --runtime=2 >/dev/null

for ((r = 1; r <= ROUNDS; r++)); do
	for cfg in "$@"; do
		label=${cfg%%=*} bin=${cfg#*=}
		setsid env --default-signal=INT "$bin" hist -d "${LOOP#/dev/}" >"$WORK/out" 2>&1 </dev/null &
		TRACER=$!
		read -ra ids < <("${BP[@]}" wait-attached "$TRACER" --min 4 --timeout 60 |
			python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["ids"])))')
		sleep 1
		"${BP[@]}" snapshot "${ids[@]}" >"$WORK/before.json"
		sysctl -qw kernel.bpf_stats_enabled=1
		fio --name=c --filename="$LOOP" --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
			--iodepth=32 --time_based --runtime="$SECONDS_RUN" >/dev/null
		sysctl -qw kernel.bpf_stats_enabled=0
		"${BP[@]}" snapshot "${ids[@]}" >"$WORK/after.json"
		kill -INT "$TRACER"
		wait "$TRACER" || true
		TRACER=""
		python3 - "$WORK/before.json" "$WORK/after.json" "$r" "$label" <<'PY' | tee -a "$WORK/runs.tsv"
import json, sys
b, a = (json.load(open(f))["progs"] for f in sys.argv[1:3])
t = {}
for i, p in a.items():
    n = p["name"].split("_")[1]
    t[n] = (p["run_time_ns"] - b[i]["run_time_ns"], p["run_cnt"] - b[i]["run_cnt"])
ios = t["complete"][1]
per_io = sum(x[0] for x in t.values()) / ios
per_run = {k: (v[0] / v[1] if v[1] else 0) for k, v in t.items()}
print(f'{sys.argv[3]}\t{sys.argv[4]}\t{per_io:.1f}\t{per_run["issue"]:.1f}\t{per_run["complete"]:.1f}\t{ios}')
PY
	done
done

python3 - "$WORK/runs.tsv" "${1%%=*}" <<'PY'
import statistics as st, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
first = sys.argv[2]
labels = list(dict.fromkeys(r[1] for r in rows))
base = {r[0]: float(r[2]) for r in rows if r[1] == first}
print("\n| build | ns per I/O (median) | min – max | issue ns/run | complete ns/run | ratio to " + first + " (paired median) |")
print("|---|---|---|---|---|---|")
for l in labels:
    mine = [r for r in rows if r[1] == l]
    ns = [float(r[2]) for r in mine]
    ratio = st.median(float(r[2]) / base[r[0]] for r in mine)
    print(f"| {l} | {st.median(ns):.0f} | {min(ns):.0f} – {max(ns):.0f} | "
          f"{st.median(float(r[3]) for r in mine):.0f} | {st.median(float(r[4]) for r in mine):.0f} | {ratio:.3f} |")
PY
