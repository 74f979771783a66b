#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/run.sh — I/O overhead and BPF cost per I/O of sanwatch against
# libbpf-tools biolatency and a bpftrace biolatency, on a loop device over
# /dev/shm. Writes the overhead section of bench/RESULTS.md and prints the
# table. See bench/README.md.
#
#   bench/run.sh [--quick] [--rounds N] [--seconds S] [--results FILE]
#
# Root only. Cleans up on exit, failure and Ctrl-C: tracers stopped, fio
# stopped, loop device detached, /dev/shm file removed, bpf_stats restored.
set -Eeuo pipefail

BENCH_NAME=run.sh
# Paths, log/die, skip_or_fail and meta; run.sh keeps its own cleanup.
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FLOOR=${SANWATCH_BPF_FLOOR:-$REPO/build/bench/sanwatch-bpf-floor}

ROUNDS=5
RUN_SECONDS=10
COST_SECONDS=4        # fio run with bpf_stats on, after each traced IOPS run
MODE=full
RESULTS=$BENCH_DIR/RESULTS.md
FILE_SIZE=1G          # backing file in /dev/shm
WARMUP_SECONDS=2      # one unrecorded no-tracer fio run before round 1
SETTLE_SECONDS=1      # pause between "attached" (or start, for A) and fio
ATTACH_TIMEOUT=60     # seconds for a tracer to load and attach its programs
STOP_TIMEOUT=15       # seconds for a tracer to exit after SIGINT
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/run.sh [--quick] [--rounds N] [--seconds S] [--results FILE]

  --quick         smoke run: 1 round of 1 s per configuration
  --rounds N      rounds; each runs every configuration once, interleaved (default 5)
  --seconds S     fio runtime per run (default 10)
  --results FILE  markdown file whose overhead section is rewritten
                  (default bench/RESULTS.md)

Environment: SANWATCH=path to the binary (default build/sanwatch),
SANWATCH_BPF_FLOOR=path to the floor tracer (default build/bench/sanwatch-bpf-floor).
EOF
}

while (($#)); do
	case $1 in
	--quick) MODE=quick ROUNDS=1 RUN_SECONDS=1 COST_SECONDS=1 ;;
	--rounds) ROUNDS=${2:?--rounds needs a value}; shift ;;
	--rounds=*) ROUNDS=${1#*=} ;;
	--seconds) RUN_SECONDS=${2:?--seconds needs a value}; shift ;;
	--seconds=*) RUN_SECONDS=${1#*=} ;;
	--results) RESULTS=${2:?--results needs a value}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ $RUN_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --seconds must be a positive integer" >&2; exit 2; }

# ---------------------------------------------------------------------------
# How sanwatch runs under benchmark: the only place that says so. The agent
# as deployed: `sanwatch run` watching the device under test ($LOOP_NAME)
# with canaries on (1 s period) and everything else default.
sanwatch_cmd() {
	cat >"$WORK/sanwatch-bench.toml" <<-TOML
		[devices]
		include = ["$LOOP_NAME"]
		[canary]
		targets = "all"
		[metrics]
		listen = "127.0.0.1:0"
		# The ledger as deployed, kept in the work dir (not /var/lib/sanwatch).
		[ledger]
		path = "$WORK/ledger.db"
	TOML
	SANWATCH_CMD=("$SANWATCH" run --config "$WORK/sanwatch-bench.toml")
}
# ---------------------------------------------------------------------------

CONFIGS=(A B C D E F)
declare -A LABEL=([A]="no tracer" [B]="sanwatch" [C]="biolatency"
	[D]="biolatency -D -F" [E]="bpftrace biolatency" [F]="floor: 1 program, 1 clock read")
declare -A MIN_PROGS=([B]=3 [C]=2 [D]=2 [E]=2 [F]=1) # programs that must be attached
declare -A REF_RATIO=([C]=0.82 [D]=0.80 [E]=0.71)  # known before sanwatch existed
declare -A REF_NS=([C]=1000)
declare -A GOAL_RATIO=([B]=0.95)
declare -A GOAL_NS=([B]=300)

# tracer_cmd KEY: sets TRACER_CMD (empty for the no-tracer baseline).
tracer_cmd() {
	case $1 in
	A) TRACER_CMD=() ;;
	B) sanwatch_cmd; TRACER_CMD=("${SANWATCH_CMD[@]}") ;;
	# No interval: biolatency prints once, at Ctrl-C (default interval 99999999 s).
	C) TRACER_CMD=(biolatency) ;;
	D) TRACER_CMD=(biolatency -D -F) ;;
	# What any latency tracer pays at least (bench/tools/floor.bpf.c).
	F) TRACER_CMD=("$FLOOR") ;;
	E) # Classic tracepoints need tracefs; mount it in a private mount
	   # namespace if the host has none (nothing to undo afterwards).
	   if [[ -e /sys/kernel/tracing/events/block/block_rq_issue ]]; then
		   TRACER_CMD=(bpftrace "$BENCH_DIR/biolatency-tp.bt")
	   else
		   TRACER_CMD=(unshare -m sh -c 'mount -t tracefs nodev /sys/kernel/tracing && exec "$@"'
			   sh bpftrace "$BENCH_DIR/biolatency-tp.bt")
	   fi ;;
	esac
}

# --------------------------------------------------------------- cleanup
WORK="" SHM_FILE="" LOOP_DEV="" LOOP_NAME="" OLD_BPF_STATS="" TRACER_PID="" FIO_PID=""

stop_tracer() { # sets TRACER_RC; SIGINT, then SIGKILL after STOP_TIMEOUT
	local pid=$TRACER_PID i
	TRACER_RC=0
	[[ -n $pid ]] || return 0
	kill -INT "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "run.sh: tracer $pid ignored SIGINT for ${STOP_TIMEOUT}s, killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || TRACER_RC=$?
	TRACER_PID=""
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP ERR
	trap '' PIPE # output may be gone (| head): finish cleaning up regardless
	set +e
	if [[ -n $FIO_PID ]]; then
		kill -TERM "$FIO_PID" 2>/dev/null
		wait "$FIO_PID" 2>/dev/null
	fi
	if [[ -n $TRACER_PID ]]; then
		STOP_TIMEOUT=5
		stop_tracer
	fi
	if [[ -n $LOOP_DEV ]]; then
		losetup -d "$LOOP_DEV" 2>/dev/null || log "run.sh: could not detach $LOOP_DEV"
	fi
	[[ -n $SHM_FILE ]] && rm -f "$SHM_FILE"
	if [[ -n $OLD_BPF_STATS ]]; then
		sysctl -qw kernel.bpf_stats_enabled="$OLD_BPF_STATS" ||
			log "run.sh: could not restore kernel.bpf_stats_enabled=$OLD_BPF_STATS"
	fi
	[[ -n $WORK ]] && rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'trap - ERR; log "run.sh: interrupted"; exit 130' INT TERM HUP
trap 'trap - ERR; exit 141' PIPE
trap '((BASH_SUBSHELL)) || log "run.sh: failed at line $LINENO: $BASH_COMMAND"' ERR

# --------------------------------------------------------------- pre-flight
((EUID == 0)) || skip_or_fail "root (BPF, loop devices, sysctl)"
missing=()
for t in fio biolatency bpftrace bpftool losetup python3 setsid stdbuf unshare sysctl; do
	command -v "$t" >/dev/null || missing+=("$t")
done
((${#missing[@]} == 0)) || skip_or_fail "${missing[*]} (apt-get install -y fio libbpf-tools bpftrace bpftool)"
[[ -r /sys/kernel/btf/vmlinux ]] || skip_or_fail "kernel BTF (/sys/kernel/btf/vmlinux)"
if [[ ! -x $SANWATCH || ! -x $FLOOR ]]; then
	log "run.sh: $SANWATCH or $FLOOR missing, building them"
	cmake --build "$REPO/build" --target sanwatch sanwatch-bpf-floor >&2 ||
		die "build failed: cmake --build build --target sanwatch sanwatch-bpf-floor"
fi

# fio and the tracers run in their own sessions: Ctrl-C reaches only this
# script, whose cleanup stops them in order. A non-interactive shell starts
# background jobs with SIGINT ignored, and a program that waits for signals
# with signalfd (sanwatch) never sees an ignored one: start the tracers with
# SIGINT at its default, as from a terminal.
if env --default-signal=INT true 2>/dev/null; then
	SIGINT_DEFAULT=(env --default-signal=INT)
else # coreutils < 8.31
	SIGINT_DEFAULT=(python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ): signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])')
fi

WORK=$(mktemp -d /tmp/sanwatch-bench.XXXXXX)
PY=(python3 "$BENCH_DIR/stats.py")
BP=(python3 "$BENCH_DIR/bpfprogs.py")

SHM_FILE=/dev/shm/sanwatch-bench.$$.img
fallocate -l "$FILE_SIZE" "$SHM_FILE" 2>/dev/null ||
	dd if=/dev/zero of="$SHM_FILE" bs=1M count=$(($(numfmt --from=iec "$FILE_SIZE") >> 20)) status=none
LOOP_DEV=$(losetup --direct-io=on --find --show "$SHM_FILE")
LOOP_NAME=${LOOP_DEV#/dev/}
LOOP_DIO=$(cat "/sys/block/$LOOP_NAME/loop/dio" 2>/dev/null || echo "?")
[[ $LOOP_DIO == 1 ]] || log "run.sh: warning: $LOOP_DEV has direct-io=$LOOP_DIO (wanted 1)"
LOOP_SCHED=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "/sys/block/$LOOP_NAME/queue/scheduler" 2>/dev/null || echo "?")

OLD_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
# bpf_stats costs two clock reads per program run: on only for the cost runs,
# so the IOPS runs see the tracers as deployed.
bpf_stats() { sysctl -qw kernel.bpf_stats_enabled="$1"; }
bpf_stats 0

FIO_ARGS=(--name=randread --filename="$LOOP_DEV" --ioengine=io_uring --direct=1 --rw=randread
	--bs=4k --iodepth=32 --numjobs=1 --time_based --output-format=json)

run_fio() { # SECONDS OUT.json
	setsid fio "${FIO_ARGS[@]}" --runtime="$1" --output="$2" >/dev/null 2>"$2.err" &
	FIO_PID=$!
	wait "$FIO_PID" || { cat "$2.err" >&2; die "fio failed"; }
	FIO_PID=""
}

# --------------------------------------------------------------- metadata
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta command "bench/run.sh${ORIG_ARGS:+ $ORIG_ARGS}"
meta mode "$MODE"
meta rounds "$ROUNDS"
meta seconds "$RUN_SECONDS"
machine_meta
meta fio "$(fio --version)"
meta bpftrace "$(bpftrace --version)"
sanwatch_meta
meta biolatency "libbpf-tools $(dpkg-query -W -f='${Version}' libbpf-tools 2>/dev/null || biolatency -V)"
meta bpftool "$(bpftool version | sed -n 1p)"
meta device "$LOOP_DEV: loop over a $FILE_SIZE file in /dev/shm, direct-io=$LOOP_DIO, scheduler $LOOP_SCHED"
meta fio_job "fio ${FIO_ARGS[*]//$LOOP_DEV/DEV} --runtime=$RUN_SECONDS"
meta bpf_stats "kernel.bpf_stats_enabled=0 for the IOPS runs, 1 for the ${COST_SECONDS} s cost run after each (was $OLD_BPF_STATS, restored after)"

shown_cmd() { # the command as a shell would take it, repo paths relative, device as DEV
	local a out=()
	for a in "$@"; do
		a=${a//$REPO\//}
		a=${a//$LOOP_NAME/DEV}
		[[ $a =~ [[:space:]\"\$] ]] && a="'$a'"
		out+=("$a")
	done
	printf '%s' "${out[*]}"
}
: >"$WORK/configs.tsv"
for k in "${CONFIGS[@]}"; do
	tracer_cmd "$k"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "${LABEL[$k]}" "$(shown_cmd "${TRACER_CMD[@]}")" \
		"${REF_RATIO[$k]:-}" "${REF_NS[$k]:-}" "${GOAL_RATIO[$k]:-}" "${GOAL_NS[$k]:-}" >>"$WORK/configs.tsv"
done

# --------------------------------------------------------------- one run
run_one() { # KEY ROUND
	local key=$1 round=$2 tag="$1-r$2" ids="" rec=()
	local log=$WORK/$tag.log
	tracer_cmd "$key"
	printf '[round %d/%d] %s %-20s' "$round" "$ROUNDS" "$key" "${LABEL[$key]}" >&2
	if ((${#TRACER_CMD[@]})); then
		setsid "${SIGINT_DEFAULT[@]}" stdbuf -oL -eL "${TRACER_CMD[@]}" >"$log" 2>&1 </dev/null &
		TRACER_PID=$!
		if ! "${BP[@]}" wait-attached "$TRACER_PID" --min "${MIN_PROGS[$key]}" \
			--timeout "$ATTACH_TIMEOUT" >"$WORK/$tag.attach.json"; then
			log ""
			log "$(cat "$WORK/$tag.attach.json")"
			log "--- ${LABEL[$key]} output:"
			tail -n 20 "$log" >&2 || true
			die "${LABEL[$key]} did not attach"
		fi
		ids=$(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))["ids"])' "$WORK/$tag.attach.json")
		rec+=(--attach "$WORK/$tag.attach.json" --lines-at-attach "$(wc -l <"$log")")
	fi
	sleep "$SETTLE_SECONDS"
	# shellcheck disable=SC2086 # ids is a list
	"${BP[@]}" snapshot ${TRACER_PID:+--pid "$TRACER_PID"} $ids >"$WORK/$tag.before.json"
	run_fio "$RUN_SECONDS" "$WORK/$tag.fio.json"
	# shellcheck disable=SC2086
	"${BP[@]}" snapshot ${TRACER_PID:+--pid "$TRACER_PID"} $ids >"$WORK/$tag.after.json"
	if [[ -n $TRACER_PID ]]; then
		bpf_stats 1
		# shellcheck disable=SC2086
		"${BP[@]}" snapshot $ids >"$WORK/$tag.cost-before.json"
		run_fio "$COST_SECONDS" "$WORK/$tag.cost.fio.json"
		# shellcheck disable=SC2086
		"${BP[@]}" snapshot $ids >"$WORK/$tag.cost-after.json"
		bpf_stats 0
		rec+=(--cost-fio "$WORK/$tag.cost.fio.json" --cost-before "$WORK/$tag.cost-before.json"
			--cost-after "$WORK/$tag.cost-after.json")
		rec+=(--lines-before-stop "$(wc -l <"$log")")
		stop_tracer
		# shellcheck disable=SC2086
		"${BP[@]}" wait-gone --timeout 10 $ids >"$WORK/$tag.gone.json" ||
			log "run.sh: ${LABEL[$key]} left programs behind: $(cat "$WORK/$tag.gone.json")"
		local first
		first=$(grep -m1 Tracing "$log" || head -n1 "$log" || true)
		rec+=(--exit-code "$TRACER_RC" --gone "$WORK/$tag.gone.json" --first-line="$first")
	fi
	"${PY[@]}" record --config "$key" --round "$round" --fio "$WORK/$tag.fio.json" \
		--before "$WORK/$tag.before.json" --after "$WORK/$tag.after.json" \
		"${rec[@]}" --append "$WORK/runs.jsonl" >&2
}

# --------------------------------------------------------------- main
log "sanwatch overhead benchmark ($MODE): $ROUNDS round(s) x ${#CONFIGS[@]} configurations x ${RUN_SECONDS}s on $LOOP_DEV"
log "warm-up: ${WARMUP_SECONDS}s of fio, not recorded"
run_fio "$WARMUP_SECONDS" "$WORK/warmup.json"
for ((r = 1; r <= ROUNDS; r++)); do
	for k in "${CONFIGS[@]}"; do
		run_one "$k" "$r"
	done
done

"${PY[@]}" report --runs "$WORK/runs.jsonl" --configs "$WORK/configs.tsv" \
	--meta "$WORK/meta.tsv" --results "$RESULTS"
