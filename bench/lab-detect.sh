#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/lab-detect.sh — dm-multipath path failure in the qemu lab (TCG):
# PATH_FAILED uevent -> path `failed` event, map `degraded` event, first byte
# of the Alertmanager POST, per trial, over several VM boots. Writes the
# lab-detect section of bench/RESULTS.md. See bench/README.md.
#
#   bench/lab-detect.sh [--quick] [--trials N] [--runs N] [--results FILE]
#
# Needs what tests/lab/run-lab.sh needs (it installs qemu and friends as root
# and downloads Debian's kernel package once into build/lab-cache).
set -Eeuo pipefail
BENCH_NAME=lab-detect
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=full
TRIALS=30
RUNS=2
RESULTS=$BENCH_DIR/RESULTS.md
PROBE=${SANWATCH_LABPROBE:-$REPO/build/bench/sanwatch-labprobe}
CACHE=${SANWATCH_LAB_CACHE:-$REPO/build/lab-cache}
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/lab-detect.sh [--quick] [--trials N] [--runs N] [--results FILE]

  --quick          smoke run: 1 boot, 3 trials (the figures mean nothing)
  --trials N       trials per boot (default $TRIALS)
  --runs N         VM boots (default $RUNS); each is tests/lab/run-lab.sh
                   with bench/lab/detect-path.sh
  --results FILE   markdown file whose lab-detect section is rewritten
                   (default bench/RESULTS.md)

Environment: SANWATCH (default build/sanwatch), SANWATCH_LABPROBE (default
build/bench/sanwatch-labprobe), SANWATCH_LAB_CACHE (default build/lab-cache),
BENCH_KEEP=1 keeps the work dir (console logs).
EOF
}

while (($#)); do
	case $1 in
	--quick) MODE=quick TRIALS=3 RUNS=1 ;;
	--trials) TRIALS=${2:?}; shift ;;
	--trials=*) TRIALS=${1#*=} ;;
	--runs) RUNS=${2:?}; shift ;;
	--runs=*) RUNS=${1#*=} ;;
	--results) RESULTS=${2:?}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	-h | --help) usage; exit 0 ;;
	*) log "lab-detect.sh: unknown argument: $1"; usage >&2; exit 2 ;;
	esac
	shift
done
[[ $TRIALS =~ ^[1-9][0-9]*$ ]] || die "--trials must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"

install_traps
for bin in "$SANWATCH:sanwatch" "$PROBE:sanwatch-labprobe"; do
	if [[ ! -x ${bin%%:*} ]]; then
		log "$BENCH_NAME: ${bin%%:*} missing, building it"
		cmake --build "$REPO/build" --target "${bin#*:}" >&2 || die "build failed: ${bin#*:}"
	fi
done
command -v python3 >/dev/null || die "python3 missing"
WORK=$(mktemp -d "/tmp/sanwatch-$BENCH_NAME.XXXXXX")
: >"$WORK/meta.tsv"
common_meta
meta guest "Debian 12 kernel package under qemu -machine q35,accel=tcg -smp 2 -m 1024 (tests/lab); TCG-emulated, ≈ 10× slower than hardware"
meta agent "canaries on the map and paths every 250 ms, recovery 200 ms, log_level debug, one Alertmanager URL (the probe)"
OUT=$WORK/trials.jsonl
: >"$OUT"

# The guest scenario takes its trial count from the first line of its text.
SCENARIO=$WORK/detect-path.sh
{ echo "BENCH_TRIALS=$TRIALS BENCH_DUMP=${BENCH_DUMP:-0}"; cat "$BENCH_DIR/lab/detect-path.sh"; } >"$SCENARIO"
# Boot and agent start ~25 s under load, then ~2-4 s per trial.
TIMEOUT=$((60 + 6 * TRIALS))
log "$BENCH_NAME ($MODE): $RUNS boot(s) x $TRIALS trial(s), TCG-emulated lab (≈ 10× slower than hardware)"
FAILED=0
for ((r = 1; r <= RUNS; r++)); do
	log "lab run $r/$RUNS (host deadline ${TIMEOUT} s)"
	rc=0
	run_helper "$REPO/tests/lab/run-lab.sh" --scenario "$SCENARIO" --bin "$SANWATCH" --bin "$PROBE" \
		--cache "$CACHE" --timeout "$TIMEOUT" --log "$WORK/lab-$r.console" >"$WORK/lab-$r.log" 2>&1 || rc=$?
	if ((rc == 77)); then
		tail -n 3 "$WORK/lab-$r.log" >&2
		skip_or_fail "the qemu lab (tests/lab/run-lab.sh skipped)"
	fi
	((rc == 0)) || { tail -n 30 "$WORK/lab-$r.log" >&2; log "$BENCH_NAME: run-lab.sh exited $rc"; FAILED=$((FAILED + 1)); }
	python3 "$BENCH_DIR/labdetect.py" parse --log "$WORK/lab-$r.log" --run "$r" --rc "$rc" --out "$OUT"
done
meta load_at_end "loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
save_raw "$OUT" "$WORK/meta.tsv" "$WORK"/lab-*.log
python3 "$BENCH_DIR/labdetect.py" report --trials "$OUT" --meta "$WORK/meta.tsv" --results "$RESULTS"
# Every boot must pass: a failed scenario is a broken benchmark, not a figure.
((FAILED == 0)) || die "$FAILED lab run(s) failed (BENCH_KEEP=1 keeps $WORK)"
