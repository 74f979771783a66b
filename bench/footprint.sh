#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/footprint.sh — memory and CPU of an idle `sanwatch run` watching N
# loop devices with canaries at 10 Hz, next to N `ioping -i 0.1` processes
# doing the same probing. Writes the footprint section of bench/RESULTS.md.
# See bench/README.md.
#
#   bench/footprint.sh [--quick] [--devices N] [--seconds S] [--period MS]
#                      [--results FILE]
#
# Root only. Cleans up on exit, failure and Ctrl-C: agent and iopings
# stopped, loop devices detached (and removed if this script created them),
# the sparse files in /dev/shm deleted.
set -Eeuo pipefail
BENCH_NAME=footprint
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=full
DEVICES=64
SECONDS_IDLE=60
SETTLE=10          # after ready (or after the iopings started), before measuring
PERIOD_MS=100
RESULTS=$BENCH_DIR/RESULTS.md
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/footprint.sh [--quick] [--devices N] [--seconds S] [--period MS]
                          [--results FILE]

  --quick          smoke run: 4 devices, 3 s (the figures mean nothing)
  --devices N      loop devices watched (default $DEVICES)
  --seconds S      measuring window per configuration (default $SECONDS_IDLE)
  --period MS      canary / ioping period (default $PERIOD_MS: 10 Hz)
  --results FILE   markdown file whose footprint section is rewritten
                   (default bench/RESULTS.md)

Environment: SANWATCH (default build/sanwatch), BENCH_KEEP=1 keeps the work dir.
EOF
}

while (($#)); do
	case $1 in
	--quick) MODE=quick DEVICES=4 SECONDS_IDLE=3 SETTLE=1 ;;
	--devices) DEVICES=${2:?}; shift ;;
	--devices=*) DEVICES=${1#*=} ;;
	--seconds) SECONDS_IDLE=${2:?}; shift ;;
	--seconds=*) SECONDS_IDLE=${1#*=} ;;
	--period) PERIOD_MS=${2:?}; shift ;;
	--period=*) PERIOD_MS=${1#*=} ;;
	--results) RESULTS=${2:?}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) log "footprint.sh: unknown argument: $1"; usage >&2; exit 2 ;;
	esac
	shift
done
for v in DEVICES SECONDS_IDLE PERIOD_MS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v,,} must be a positive integer"
done

install_traps
preflight ioping
common_meta
OUT=$WORK/samples.jsonl
: >"$OUT"

log "footprint ($MODE): $DEVICES loop devices, canaries every ${PERIOD_MS} ms, ${SECONDS_IDLE} s windows"
make_loops "$DEVICES" 16M || die "cannot make $DEVICES loop devices"
mapfile -t NAMES < <(loop_names "${#MY_LOOPS[@]}")
meta devices "$DEVICES loop devices (direct-io) over sparse 16 MiB files in /dev/shm: ${NAMES[0]} … ${NAMES[-1]}"
meta window "${SECONDS_IDLE} s per configuration, after ${SETTLE} s of settling; nothing scrapes /metrics meanwhile"

# ------------------------------------------------------------------ sanwatch
cat >"$WORK/footprint.toml" <<-TOML
	[devices]
	include = $(toml_list "${NAMES[@]}")
	[canary]
	targets = "all"
	period = "${PERIOD_MS}ms"
	[metrics]
	listen = "127.0.0.1:0"
	# The ledger as deployed, kept in the work dir (not /var/lib/sanwatch).
	[ledger]
	path = "$WORK/ledger.db"
TOML
meta sanwatch_config "include = the $DEVICES devices by name, canary targets \"all\", period \"${PERIOD_MS}ms\", everything else default (metrics on 127.0.0.1:0)"
start_agent footprint "$WORK/footprint.toml"
log "sanwatch ready in ${STARTUP_MS} ms; settling ${SETTLE} s, then measuring ${SECONDS_IDLE} s"
sleep "$SETTLE"
run_helper "${BL[@]}" sample --label sanwatch --pids "$AGENT_PID" --seconds "$SECONDS_IDLE" \
	--devices "${NAMES[@]}" --set "startup_ms=$STARTUP_MS" "period_ms=$PERIOD_MS" "devices=$DEVICES" \
	--out "$OUT"
# The agent probes targets that share a period together, on multiples of the
# period. A pause longer than a period (SIGSTOP here; a busy machine or a
# stall in production) makes every target late at once; they must fall back
# into the same rhythm, at the same cost, which the second sample checks.
log "pausing sanwatch for 0.5 s (SIGSTOP/SIGCONT); settling ${SETTLE} s, measuring ${SECONDS_IDLE} s"
kill -STOP "$AGENT_PID"
sleep 0.5
kill -CONT "$AGENT_PID"
sleep "$SETTLE"
run_helper "${BL[@]}" sample --label "sanwatch, after a 0.5 s pause" --pids "$AGENT_PID" \
	--seconds "$SECONDS_IDLE" --devices "${NAMES[@]}" --set "period_ms=$PERIOD_MS" "devices=$DEVICES" \
	--out "$OUT"
stop_agent
((AGENT_RC == 0)) || log "footprint: sanwatch exited with $AGENT_RC"

# ------------------------------------------------------------------ ioping
IOPING_INTERVAL=$(awk -v p="$PERIOD_MS" 'BEGIN { printf "%g", p / 1000 }')
IOPING_PIDS=()
for n in "${NAMES[@]}"; do
	setsid ioping -q -D -i "$IOPING_INTERVAL" -s 4k "/dev/$n" </dev/null >/dev/null 2>>"$WORK/ioping.err" &
	IOPING_PIDS+=($!)
	OTHER_PIDS+=($!)
done
meta ioping "$(ioping -v 2>&1 | head -n1): \`ioping -q -D -i $IOPING_INTERVAL -s 4k /dev/loopN\`, one process per device"
log "$DEVICES x ioping -i $IOPING_INTERVAL started; settling ${SETTLE} s, then measuring ${SECONDS_IDLE} s"
sleep "$SETTLE"
run_helper "${BL[@]}" sample --label ioping --pids "${IOPING_PIDS[@]}" --seconds "$SECONDS_IDLE" \
	--devices "${NAMES[@]}" --set "period_ms=$PERIOD_MS" "devices=$DEVICES" --out "$OUT"
for p in "${IOPING_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${IOPING_PIDS[@]}"; do stop_pid "$p" 5; drop_pid OTHER_PIDS "$p"; done
[[ -s $WORK/ioping.err ]] && log "ioping stderr: $(head -n 3 "$WORK/ioping.err")"

save_raw "$OUT" "$WORK/meta.tsv" "$WORK"/*.agent.log
python3 "$BENCH_DIR/footprint.py" report --samples "$OUT" --meta "$WORK/meta.tsv" --results "$RESULTS"
