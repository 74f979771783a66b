#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scale.sh — how `sanwatch run` scales with the number of watched
# devices: start-up time, /metrics scrape time and size, idle CPU and memory
# at 64, 256 and 1024 loop devices. Writes the scale section of
# bench/RESULTS.md. See bench/README.md.
#
#   bench/scale.sh [--quick] [--sizes "N..."] [--periods "MS..."] [--seconds S]
#                  [--scrapes N] [--results FILE]
#
# Root only. Cleans up on exit, failure and Ctrl-C: the agent stopped, every
# loop device it made detached and removed, the sparse files deleted.
set -Eeuo pipefail
BENCH_NAME=scale
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=full
SIZES="64 256 1024"
SECONDS_IDLE=30
SETTLE=10
SCRAPES=10
PERIODS="1000 0"
RESULTS=$BENCH_DIR/RESULTS.md
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/scale.sh [--quick] [--sizes "N..."] [--periods "MS..."] [--seconds S]
                      [--scrapes N] [--results FILE]

  --quick          smoke run: 4 and 8 devices, 2 s, 3 scrapes (the figures mean nothing)
  --sizes LIST     device counts, ascending (default "$SIZES")
  --periods LIST   canary periods to run at each size, canaries on every device;
                   0 = canaries off (default "$PERIODS": the agent's default
                   period, then without canaries)
  --period MS      the same for one period
  --seconds S      idle window for the CPU figure (default $SECONDS_IDLE)
  --scrapes N      timed scrapes per size and period (default $SCRAPES)
  --results FILE   markdown file whose scale section is rewritten
                   (default bench/RESULTS.md)

Environment: SANWATCH (default build/sanwatch), BENCH_KEEP=1 keeps the work dir.
EOF
}

while (($#)); do
	case $1 in
	--quick) MODE=quick SIZES="4 8" SECONDS_IDLE=2 SETTLE=1 SCRAPES=3 ;;
	--sizes) SIZES=${2:?}; shift ;;
	--sizes=*) SIZES=${1#*=} ;;
	--seconds) SECONDS_IDLE=${2:?}; shift ;;
	--seconds=*) SECONDS_IDLE=${1#*=} ;;
	--scrapes) SCRAPES=${2:?}; shift ;;
	--scrapes=*) SCRAPES=${1#*=} ;;
	--periods | --period) PERIODS=${2:?}; shift ;;
	--periods=* | --period=*) PERIODS=${1#*=} ;;
	--results) RESULTS=${2:?}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) log "scale.sh: unknown argument: $1"; usage >&2; exit 2 ;;
	esac
	shift
done
prev=0
for n in $SIZES; do
	if ! [[ $n =~ ^[1-9][0-9]*$ ]] || ((n <= prev)); then die "--sizes must be ascending positive integers"; fi
	prev=$n
done
for v in SECONDS_IDLE SCRAPES; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v,,} must be a positive integer"; done
for p in $PERIODS; do [[ $p =~ ^[0-9]+$ ]] || die "--periods: '$p' is not a non-negative integer (ms)"; done
[[ -n ${PERIODS// /} ]] || die "--periods is empty"

install_traps
# shellcheck disable=SC2119 # no extra tools to check
preflight
common_meta
SP=(python3 "$BENCH_DIR/scale.py")
OUT=$WORK/samples.jsonl
: >"$OUT"
READY_TIMEOUT=600

meta sanwatch_config "include = the devices by name; canary targets \"all\" at the period in the table, or \"none\" (off); everything else default (rescan 5s, metrics refresh 1s, device histograms on, stall 2s: a 100 ms tick)"
meta window "settle ${SETTLE} s after ready, idle CPU over ${SECONDS_IDLE} s, then $SCRAPES timed scrapes"
meta limits "loop module max_loop=$(cat /sys/module/loop/parameters/max_loop 2>/dev/null || echo ?) (devices beyond it are added through /dev/loop-control); $(awk '/^MemAvailable/ {printf "%.1f GiB available", $2 / 1048576}' /proc/meminfo); loop devices before this run: $(find /sys/block -maxdepth 1 -name "loop*" | wc -l)"

log "scale ($MODE): sizes $SIZES, canary periods $PERIODS, ${SECONDS_IDLE} s idle windows"
got=0
for n in $SIZES; do
	if ((${#MY_LOOPS[@]} < n)); then
		log "creating loop devices: ${#MY_LOOPS[@]} -> $n"
		t0=$(date +%s%N)
		if ! make_loops $((n - ${#MY_LOOPS[@]})) 16M; then
			meta notes "stopped at ${#MY_LOOPS[@]} loop devices: losetup failed ($(cat "$WORK/losetup.err")); larger sizes were not measured"
			log "scale: only ${#MY_LOOPS[@]} loop devices could be made; stopping there"
			break
		fi
		log "  made in $((($(date +%s%N) - t0) / 1000000)) ms"
	fi
	mapfile -t NAMES < <(loop_names "$n")
	for period in $PERIODS; do
		if ((period > 0)); then
			canary="targets = \"all\"
period = \"${period}ms\""
		else
			canary='targets = "none"'
		fi
		cat >"$WORK/scale-$n-$period.toml" <<-TOML
			[devices]
			include = $(toml_list "${NAMES[@]}")
			[canary]
			$canary
			[metrics]
			listen = "127.0.0.1:0"
			# The ledger as deployed, kept in the work dir (not /var/lib/sanwatch).
			[ledger]
			path = "$WORK/ledger.db"
		TOML
		start_agent "scale-$n-$period" "$WORK/scale-$n-$period.toml"
		watching=$(grep -c '"msg":"watching loop' "$AGENT_LOG" || true)
		log "$n devices, canary period ${period} ms: ready in ${STARTUP_MS} ms (watching $watching); settling ${SETTLE} s, idle ${SECONDS_IDLE} s"
		sleep "$SETTLE"
		run_helper "${BL[@]}" sample --label idle --pids "$AGENT_PID" --seconds "$SECONDS_IDLE" \
			--devices "${NAMES[@]}" --set "devices=$n" "period_ms=$period" --out "$OUT"
		run_helper "${SP[@]}" scrape --url "http://$METRICS/metrics" --n "$SCRAPES" --out "$OUT" \
			--set "devices=$n" "period_ms=$period"
		stop_agent
		printf '{"kind": "lifecycle", "devices": %d, "period_ms": %d, "startup_ms": %s, "stop_ms": %d, "exit_code": %d, "watching": %d}\n' \
			"$n" "$period" "$STARTUP_MS" "$STOP_MS" "$AGENT_RC" "$watching" >>"$OUT"
	done
	got=$n
done
meta devices "up to $got loop devices (direct-io) over sparse 16 MiB files in /dev/shm, made through losetup -f (/dev/loop-control)"
log "detaching ${#MY_LOOPS[@]} loop devices"
detach_loops

save_raw "$OUT" "$WORK/meta.tsv"
"${SP[@]}" report --samples "$OUT" --meta "$WORK/meta.tsv" --results "$RESULTS"
