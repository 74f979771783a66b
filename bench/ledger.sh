#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/ledger.sh — the evidence ledger's cost (rows and bytes per LUN per
# day, the writer thread's CPU, commit latency, the compacted size) and
# proof that detection never waits for it: the stall -> stalled lag and the
# alerts with the ledger on a local directory, on a 500 ms-per-write disk
# and on a stalled disk. Writes the ledger section of bench/RESULTS.md.
# See bench/README.md.
#
#   bench/ledger.sh [--quick] [--trials N] [--block N] [--stall MS]
#                   [--write-delay MS] [--luns N] [--hours H] [--results FILE]
#
# Root only. Cleans up on exit, failure and Ctrl-C: agents and helpers
# stopped, faults released, the ledger filesystem unmounted, loop devices
# detached (and removed if this script created them), FUSE disks unmounted.
set -Eeuo pipefail
BENCH_NAME=ledger
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LEDGER_COST=${SANWATCH_LEDGER_COST:-$REPO/build/bench/sanwatch-ledger-cost}

MODE=full
TRIALS=30         # stall trials per configuration
BLOCK=5           # trials per agent run: the configurations take turns
STALL_MS=2000     # the agent's default stall threshold
WRITE_DELAY_MS=500
LUNS=100
HOURS=24
COMMITS=200 BURSTS=30           # commit-latency samples on the bench's disk
SLOW_COMMITS=5 SLOW_BURSTS=2    # ... and on the slow ledger disk (~1 s each)
RESULTS=$BENCH_DIR/RESULTS.md
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/ledger.sh [--quick] [--trials N] [--block N] [--stall MS]
                       [--write-delay MS] [--luns N] [--hours H] [--results FILE]

  --quick          smoke run: 10 LUNs for 1 simulated hour, 2 trials per
                   configuration, 500 ms stall threshold (the figures mean nothing)
  --trials N       stall trials per ledger configuration (default $TRIALS)
  --block N        trials per agent run; the three configurations take turns,
                   one run each per round, in rotating order (default $BLOCK)
  --stall MS       the agent's stall threshold (default $STALL_MS, its default)
  --write-delay MS write latency of the slow ledger disk (default $WRITE_DELAY_MS)
  --luns N         LUNs (a map + 2 paths each) in the simulated day (default $LUNS)
  --hours H        hours simulated (default $HOURS)
  --results FILE   markdown file whose ledger section is rewritten
                   (default bench/RESULTS.md)

Environment: SANWATCH (default build/sanwatch), SANWATCH_FAULTDISK (default
build/tests/faultdisk/sanwatch-faultdisk), SANWATCH_LEDGER_COST (default
build/bench/sanwatch-ledger-cost), BENCH_KEEP=1 keeps the work dir.
EOF
}

while (($#)); do
	case $1 in
	--quick) MODE=quick TRIALS=2 BLOCK=1 STALL_MS=500 LUNS=10 HOURS=1 COMMITS=20 BURSTS=5 SLOW_COMMITS=2 SLOW_BURSTS=1 ;;
	--trials) TRIALS=${2:?}; shift ;;
	--trials=*) TRIALS=${1#*=} ;;
	--block) BLOCK=${2:?}; shift ;;
	--block=*) BLOCK=${1#*=} ;;
	--stall) STALL_MS=${2:?}; shift ;;
	--stall=*) STALL_MS=${1#*=} ;;
	--write-delay) WRITE_DELAY_MS=${2:?}; shift ;;
	--write-delay=*) WRITE_DELAY_MS=${1#*=} ;;
	--luns) LUNS=${2:?}; shift ;;
	--luns=*) LUNS=${1#*=} ;;
	--hours) HOURS=${2:?}; shift ;;
	--hours=*) HOURS=${1#*=} ;;
	--results) RESULTS=${2:?}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) log "ledger.sh: unknown argument: $1"; usage >&2; exit 2 ;;
	esac
	shift
done
for v in TRIALS BLOCK STALL_MS WRITE_DELAY_MS LUNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v,,}: '${!v}' is not a positive integer"
done
[[ $HOURS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--hours must be a positive number"

install_traps
preflight --fuse fusermount3 timeout mkfs.ext4 mount umount mountpoint
if [[ ! -x $LEDGER_COST ]]; then
	log "ledger: $LEDGER_COST missing, building it"
	cmake --build "$REPO/build" --target sanwatch-ledger-cost >&2 || die "build failed: sanwatch-ledger-cost"
fi
common_meta
LP=(python3 "$BENCH_DIR/ledger.py")
OUT=$WORK/trials.jsonl
: >"$OUT"

# ------------------------------------------------------------------ cost
# The bench's own disk, where a deployed ledger would live (/var/lib).
mkdir -p "$WORK/cost"
meta cost_model "$LUNS LUNs × (1 map + 2 paths), $HOURS h simulated on a fake clock, one sample a second; canaries every 1 s on maps and paths (the default deployment), map I/O 20–400 IOPS (Poisson) through the paths; 5 stalls (5–60 s, map and paths stalled) and 2 path failures (2 and 10 min, map degraded) a day; latency_slos 10 ms, 100 ms; the real LedgerRecorder, LedgerWriter and compact_minutes"
log "ledger ($MODE): cost of ${HOURS} h of $LUNS LUNs"
run_helper "$LEDGER_COST" --dir "$WORK/cost" --luns "$LUNS" --hours "$HOURS" \
	--commits "$COMMITS" --bursts "$BURSTS" >"$WORK/cost.json" || die "sanwatch-ledger-cost failed"
fs=$(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$WORK/cost" | tr -s ' ')
meta cost_note "The ledger of the simulated day, its commit-latency file and the vacuumed copies live in the benchmark's work directory under /tmp: ${fs:-?} (the bench VM's virtio disk)."
rm -rf "$WORK/cost"

# ------------------------------------------------------------------ devices
faultdisk_start 64 # the watched disk, as in detect.sh
W_LOOP=$FD_LOOP W_CTL=$FD_CTL W_NAME=${FD_LOOP#/dev/}
faultdisk_start 128 # the ledger's disk: ext4 on its loop device
L_LOOP=$FD_LOOP L_CTL=$FD_CTL
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$L_LOOP" || die "mkfs.ext4 $L_LOOP failed"
LFS=$WORK/ledgerfs
mount_fs "$L_LOOP" "$LFS"
meta device "$W_LOOP (loop, direct-io, over a sanwatch-faultdisk FUSE disk, 64 MiB), stalled per trial"
meta ledger_disk "local: $WORK (${fs:-?}); slow and stalled: ext4 (default mount options: $(findmnt -n -o OPTIONS "$LFS")) on $L_LOOP (loop, direct-io) over a second sanwatch-faultdisk, 128 MiB, with write_delay ${WRITE_DELAY_MS}ms or stall"
meta stall "${STALL_MS} ms"
meta write_delay "${WRITE_DELAY_MS} ms"

# The slow disk's own commit latency: what the writer thread waits for.
mkdir -p "$LFS/commit"
fd_ctl "$L_CTL" "write_delay ${WRITE_DELAY_MS}ms"
log "ledger: commit latency on the ledger disk at ${WRITE_DELAY_MS} ms per write"
run_helper "$LEDGER_COST" --dir "$LFS/commit" --commit-only --luns "$LUNS" \
	--commits "$SLOW_COMMITS" --bursts "$SLOW_BURSTS" >"$WORK/cost-slow.json" || die "slow-disk commits failed"
fd_ctl "$L_CTL" "write_delay 0"
rm -rf "$LFS/commit"

# ------------------------------------------------------------------ alerts
setsid "${LP[@]}" am --port-file "$WORK/am.port" --out "$WORK/am.jsonl" </dev/null 2>"$WORK/am.log" &
OTHER_PIDS+=("$!")
for ((i = 0; i < 500; i++)); do [[ -s $WORK/am.port ]] && break; sleep 0.01; done
[[ -s $WORK/am.port ]] || die "the fake Alertmanager did not start: $(cat "$WORK/am.log")"
AM_URL=http://127.0.0.1:$(cat "$WORK/am.port")

# ------------------------------------------------------------------ configurations
declare -A LEDGER_DIR=([local]=$WORK/ledger-local [slow]=$LFS/slow [stalled]=$LFS/stalled)
SLOW_WINDOW=1s RECOVERY=500ms
[[ $MODE == quick ]] && SLOW_WINDOW=500ms RECOVERY=200ms
for c in local slow stalled; do
	mkdir -p "${LEDGER_DIR[$c]}"
	# detect.sh's tracepoint config (canaries off: the stall is seen by the
	# tracepoints alone), plus an Alertmanager and the ledger's place.
	cat >"$WORK/$c.toml" <<-TOML
		[devices]
		include = ["$W_NAME"]
		[thresholds]
		slow_io = "20ms"
		stall = "${STALL_MS}ms"
		slow_window = "$SLOW_WINDOW"
		recovery = "$RECOVERY"
		[canary]
		targets = "none"
		deadline = "100ms"
		[metrics]
		listen = "127.0.0.1:0"
		[alerts]
		alertmanager_urls = ["$AM_URL"]
		[ledger]
		path = "${LEDGER_DIR[$c]}/ledger.db"
	TOML
done
meta agent "detect.sh's: slow_io 20ms, stall ${STALL_MS}ms, slow_window $SLOW_WINDOW, recovery $RECOVERY, canaries off; one Alertmanager URL (the fake one); [ledger] path per configuration, everything else default"

ROUNDS=$(((TRIALS + BLOCK - 1) / BLOCK))
meta trials_layout "$TRIALS trials per configuration in $ROUNDS round(s); each round runs every configuration once, in rotating order (local slow stalled, slow stalled local, ...), as its own agent run of up to $BLOCK trials"
log "ledger: $TRIALS stall trials per configuration, $ROUNDS round(s) of $BLOCK; watched $W_LOOP, ledger disk $L_LOOP"
declare -A TRIALS_DONE=([local]=0 [slow]=0 [stalled]=0)
order=(local slow stalled)
for ((r = 1; r <= ROUNDS; r++)); do
	for ((k = 0; k < 3; k++)); do
		c=${order[(k + r - 1) % 3]}
		n=$((TRIALS - ${TRIALS_DONE[$c]}))
		((n > BLOCK)) && n=$BLOCK
		((n > 0)) || continue
		start_agent "$c-$r" "$WORK/$c.toml"
		case $c in
		slow) fd_ctl "$L_CTL" "write_delay ${WRITE_DELAY_MS}ms" ;;
		stalled) fd_ctl "$L_CTL" stall ;;
		esac
		sleep 0.3
		log "round $r/$ROUNDS: ledger $c, $n trial(s)"
		run_helper "${LP[@]}" stall --config "$c" --round "$r" --log "$AGENT_LOG" --dev "$W_LOOP" \
			--ctl "$W_CTL" --stall-ms "$STALL_MS" --trials "$n" --am "$WORK/am.jsonl" \
			--metrics "$METRICS" --out "$OUT" || die "stall trials failed ($c, round $r)"
		# Lift the ledger disk's fault before the stop: the writer catches up,
		# and the agent exits cleanly (a thread in a stalled fsync could not).
		fd_ctl "$L_CTL" reset
		stop_agent
		((AGENT_RC == 0)) || log "ledger: sanwatch exited with $AGENT_RC ($c, round $r)"
		TRIALS_DONE[$c]=$((${TRIALS_DONE[$c]} + n))
	done
done

# Nothing lost: every chain verifies and every incident is there.
for c in local slow stalled; do
	"$LEDGER_COST" --verify "${LEDGER_DIR[$c]}/ledger.db" >"$WORK/verify-$c.json" ||
		log "ledger: verify of the $c ledger failed"
	"${LP[@]}" check --config "$c" --verify "$WORK/verify-$c.json" --dev "$W_LOOP" \
		--logs "$WORK/$c"-*.agent.log --out "$OUT"
done

meta shared "The machine is a shared 2-CPU VM: other work ran alongside (see load_at_start and machine busy); lags below a millisecond move with it."
save_raw "$OUT" "$WORK/meta.tsv" "$WORK/cost.json" "$WORK/cost-slow.json" "$WORK/am.jsonl" \
	"$WORK"/verify-*.json "$WORK"/*.agent.log
"${LP[@]}" report --trials "$OUT" --cost "$WORK/cost.json" --cost-slow "$WORK/cost-slow.json" \
	--meta "$WORK/meta.tsv" --results "$RESULTS"
