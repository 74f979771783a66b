#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/detect.sh — detection latency of `sanwatch run`: stall -> stalled,
# injected read latency -> slow, canary-only slowness (blk-throttle) -> slow
# per canary period, and (in the qemu lab) path failure -> path failed.
# Writes the detection section of bench/RESULTS.md. See bench/README.md.
#
#   bench/detect.sh [--quick] [--trials N] [--stall MS] [--periods "MS..."]
#                   [--lab-runs N] [--results FILE]
#
# Root only. Cleans up on exit, failure and Ctrl-C: agents and helpers
# stopped, faults released, blk-throttle cgroup removed, loop devices
# detached (and removed if this script created them), FUSE disk unmounted.
set -Eeuo pipefail
BENCH_NAME=detect
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=full
TRIALS=30
STALL_MS=2000       # the agent's default stall threshold
SLOW_DELAY_MS=50
PERIODS="10 50 100 1000"
DEADLINE_MS=50      # canary deadline in the canary phases
CANARY_IOPS=2       # blk-throttle read IOPS limit: each canary read waits ~500 ms
LAB_RUNS=5
RESULTS=$BENCH_DIR/RESULTS.md
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/detect.sh [--quick] [--trials N] [--stall MS] [--periods "MS..."]
                       [--lab-runs N] [--results FILE]

  --quick          smoke run: 2 trials, 500 ms stall threshold, periods 10 and
                   100 ms, no lab runs (the figures mean nothing)
  --trials N       trials per measurement (default $TRIALS)
  --stall MS       the agent's stall threshold (default $STALL_MS, its default)
  --periods LIST   canary periods for the blk-throttle measurement
                   (default "$PERIODS")
  --lab-runs N     runs of the qemu multipath lab (tests/lab, watchdog
                   scenario, ~30-60 s each) for path failure (default $LAB_RUNS)
  --results FILE   markdown file whose detection section is rewritten
                   (default bench/RESULTS.md)

Environment: SANWATCH (default build/sanwatch), SANWATCH_FAULTDISK (default
build/tests/faultdisk/sanwatch-faultdisk), BENCH_KEEP=1 keeps the work dir.
EOF
}

while (($#)); do
	case $1 in
	--quick) MODE=quick TRIALS=2 STALL_MS=500 PERIODS="10 100" LAB_RUNS=0 ;;
	--trials) TRIALS=${2:?}; shift ;;
	--trials=*) TRIALS=${1#*=} ;;
	--stall) STALL_MS=${2:?}; shift ;;
	--stall=*) STALL_MS=${1#*=} ;;
	--periods) PERIODS=${2:?}; shift ;;
	--periods=*) PERIODS=${1#*=} ;;
	--lab-runs) LAB_RUNS=${2:?}; shift ;;
	--lab-runs=*) LAB_RUNS=${1#*=} ;;
	--results) RESULTS=${2:?}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) log "detect.sh: unknown argument: $1"; usage >&2; exit 2 ;;
	esac
	shift
done
[[ $TRIALS =~ ^[1-9][0-9]*$ ]] || die "--trials must be a positive integer"
[[ $STALL_MS =~ ^[1-9][0-9]*$ ]] || die "--stall must be a positive integer (ms)"
[[ $LAB_RUNS =~ ^[0-9]+$ ]] || die "--lab-runs must be a non-negative integer"
for p in $PERIODS; do [[ $p =~ ^[1-9][0-9]*$ ]] || die "--periods: '$p' is not a positive integer (ms)"; done

install_traps
preflight --fuse fusermount3 timeout
common_meta
DP=(python3 "$BENCH_DIR/detect.py")
OUT=$WORK/trials.jsonl
: >"$OUT"

# ------------------------------------------------------------------ devices
faultdisk_start 64
FD_NAME=${FD_LOOP#/dev/}
make_loops 1 64M || die "cannot make a loop device" # plain loop over /dev/shm for the canary phases
CAN_DEV=${MY_LOOPS[0]}
CAN_NAME=${CAN_DEV#/dev/}
CAN_MAJMIN=$(cat "/sys/block/$CAN_NAME/dev")
meta device "tracepoint phases: $FD_LOOP (loop, direct-io, over the sanwatch-faultdisk FUSE disk, 64 MiB); canary phases: $CAN_DEV (loop, direct-io, over a sparse 64 MiB file in /dev/shm)"
meta stall "${STALL_MS} ms"
meta slow_delay "${SLOW_DELAY_MS} ms"
meta canary_iops "$CANARY_IOPS"
log "detect ($MODE): $TRIALS trial(s) per measurement; fault disk $FD_LOOP, canary device $CAN_DEV"

# ------------------------------------------------------------------ tracepoints
# Canaries off: the stall and the slow read are seen by the tracepoints alone
# (an outstanding canary would be older than the test's read and flag first).
SLOW_WINDOW=1s RECOVERY=500ms
[[ $MODE == quick ]] && SLOW_WINDOW=500ms RECOVERY=200ms
cat >"$WORK/tp.toml" <<-TOML
	[devices]
	include = ["$FD_NAME"]
	[thresholds]
	slow_io = "20ms"
	stall = "${STALL_MS}ms"
	slow_window = "$SLOW_WINDOW"
	recovery = "$RECOVERY"
	[canary]
	targets = "none"
	deadline = "100ms"  # validated against stall even with canaries off
	[metrics]
	listen = "127.0.0.1:0"
	# The ledger as deployed, kept in the work dir (not /var/lib/sanwatch).
	[ledger]
	path = "$WORK/ledger.db"
TOML
meta agent_stall "slow_io 20ms, stall ${STALL_MS}ms, slow_window $SLOW_WINDOW, recovery $RECOVERY, canaries off"
start_agent tp "$WORK/tp.toml"
log "stall -> stalled (threshold ${STALL_MS} ms), agent ready in ${STARTUP_MS} ms"
run_helper "${DP[@]}" stall --log "$AGENT_LOG" --dev "$FD_LOOP" --ctl "$FD_CTL" \
	--stall-ms "$STALL_MS" --trials "$TRIALS" --out "$OUT" || die "stall trials failed"
log "read delay ${SLOW_DELAY_MS} ms -> slow"
run_helper "${DP[@]}" slow --log "$AGENT_LOG" --dev "$FD_LOOP" --ctl "$FD_CTL" \
	--delay-ms "$SLOW_DELAY_MS" --trials "$TRIALS" --out "$OUT" || die "slow trials failed"
stop_agent
((AGENT_RC == 0)) || log "detect: sanwatch exited with $AGENT_RC"

# ------------------------------------------------------------------ canaries
cg_create canary
LIMIT_FILE=$(cg_limit_file)
CG_LIMITS+=("$LIMIT_FILE|$CAN_MAJMIN")
meta agent_canary "canary targets all, deadline ${DEADLINE_MS}ms, period as in the table, stall 2s, recovery 200ms; read-IOPS limit $CANARY_IOPS on $CAN_MAJMIN in cgroup $( ((CG_V1)) && echo "v1 blkio" || echo "v2 io.max")"
for period in $PERIODS; do
	cat >"$WORK/canary-$period.toml" <<-TOML
		[devices]
		include = ["$CAN_NAME"]
		[thresholds]
		slow_io = "20ms"
		stall = "2s"
		slow_window = "500ms"
		recovery = "200ms"
		[canary]
		targets = "all"
		period = "${period}ms"
		deadline = "${DEADLINE_MS}ms"
		[metrics]
		listen = "127.0.0.1:0"
		# The ledger as deployed, kept in the work dir (not /var/lib/sanwatch).
		[ledger]
		path = "$WORK/ledger.db"
	TOML
	start_agent "canary-$period" "$WORK/canary-$period.toml"
	echo "$AGENT_PID" >"$CG/cgroup.procs" # every thread, io_uring workers included
	log "canary period ${period} ms: read-IOPS limit $CANARY_IOPS on the agent's cgroup -> slow"
	run_helper "${DP[@]}" canary --log "$AGENT_LOG" --dev "$CAN_DEV" --limit-file "$LIMIT_FILE" \
		--majmin "$CAN_MAJMIN" --iops "$CANARY_IOPS" --period-ms "$period" \
		--deadline-ms "$DEADLINE_MS" --trials "$TRIALS" --out "$OUT" || die "canary trials failed"
	stop_agent
	((AGENT_RC == 0)) || log "detect: sanwatch exited with $AGENT_RC"
done
cg_cleanup

# ------------------------------------------------------------------ lab
if ((LAB_RUNS > 0)); then
	if ! command -v qemu-system-x86_64 >/dev/null; then
		meta lab_note "Not run: qemu-system-x86_64 missing (tests/lab/install-lab-deps.sh installs it)."
	else
		for ((r = 1; r <= LAB_RUNS; r++)); do
			log "lab run $r/$LAB_RUNS (qemu, TCG): path failure -> path failed, map degraded"
			rc=0
			run_helper "$REPO/tests/lab/run-lab.sh" --scenario "$REPO/tests/lab/scenarios/watchdog.sh" \
				--bin "$SANWATCH" --cache "$REPO/build/lab-cache" --log "$WORK/lab-$r.console" \
				>"$WORK/lab-$r.log" 2>&1 || rc=$?
			"${DP[@]}" lab --log "$WORK/lab-$r.log" --run "$r" --rc "$rc" --out "$OUT"
			((rc == 0 || rc == 1)) || { tail -n 20 "$WORK/lab-$r.log" >&2; log "detect: run-lab.sh exited $rc"; }
		done
	fi
else
	meta lab_note "Not run in this invocation (\`--lab-runs 0\`)."
fi

save_raw "$OUT" "$WORK/meta.tsv" "$WORK"/*.agent.log "$WORK"/lab-*.log
"${DP[@]}" report --trials "$OUT" --meta "$WORK/meta.tsv" --results "$RESULTS"
