#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/faults.sh — the fault matrix, measured (issue 15 §3): runs the
# tests/faults suite (root; a loop device over the fault disk, the real agent
# binary, real signals; about a minute) and prints one row per fault: what was
# injected, what sanwatch reported, what was lost, and the numbers, parsed
# from the "sanwatch-fault-row {json}" lines the test cases print. Writes the
# Reliability section of bench/RESULTS.md (faults not measured yet stay
# "not yet measured"). See tests/faults/README.md.
#
#   bench/faults.sh [--filter SPEC] [--results FILE] [--no-results]
#
# Root only (exit 77 otherwise, or 1 under SANWATCH_REQUIRE_PRIVILEGED_TESTS=1).
# One test steps the machine's wall clock by ±1 h for a few seconds (and
# always steps it back): do not run it beside anything that minds.
set -Eeuo pipefail
BENCH_NAME=faults
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=full
FILTER=()
RESULTS=$BENCH_DIR/RESULTS.md
WRITE_RESULTS=1
FAULTS_TEST=${SANWATCH_FAULTS_TEST:-$REPO/build/tests/faults/faults_test}
ORIG_ARGS="$*"

usage() {
	cat <<EOF
usage: bench/faults.sh [--filter SPEC] [--results FILE] [--no-results]

  --filter SPEC    a Catch2 test spec: only these test cases (e.g.
                   "*exec hook*"); marks the section as a partial run
  --results FILE   markdown file whose reliability section is rewritten
                   (default bench/RESULTS.md)
  --no-results     print the table only

Environment: SANWATCH_FAULTS_FULL (default 1: the issue's full durations and
counts; 0: CI's short ones), SANWATCH_FAULTS_TEST (default build/tests/faults/faults_test,
built if missing), BENCH_KEEP=1 keeps the work dir (the suite's full output).
EOF
}

while (($#)); do
	case $1 in
	--filter) FILTER=("${2:?}") MODE=quick; shift ;;
	--filter=*) FILTER=("${1#*=}") MODE=quick ;;
	--results) RESULTS=${2:?}; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	--no-results) WRITE_RESULTS=0 ;;
	-h | --help) usage; exit 0 ;;
	*) log "faults.sh: unknown argument: $1"; usage >&2; exit 2 ;;
	esac
	shift
done

install_traps
preflight --fuse fusermount3 timeout
if [[ ! -x $FAULTS_TEST ]]; then
	log "faults: $FAULTS_TEST missing, building it"
	cmake --build "$REPO/build" --target faults_test sanwatch sanwatch-faultdisk >&2 ||
		die "build failed: cmake --build build --target faults_test"
fi
common_meta
meta tests "$(realpath --relative-to="$REPO" "$FAULTS_TEST") ${FILTER[*]:-(every test case)}"
OUT=$WORK/faults.out

log "faults: running the tests/faults suite (${FILTER[*]:-every test case}); output in $OUT"
rc=0
SANWATCH_FAULTS_FULL=${SANWATCH_FAULTS_FULL:-1} SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 run_helper "$FAULTS_TEST" --durations yes "${FILTER[@]}" \
	>"$OUT" 2>&1 || rc=$?
# Whatever a failed run left behind (only disks whose test process is gone).
sh "$REPO/tests/faultdisk/cleanup-leftovers.sh" >&2 || true
if ((rc != 0)); then
	grep -E -A3 "FAILED|REQUIRE|CHECK" "$OUT" | head -n 60 >&2 || true
	log "faults: the suite exited $rc (the rows below are what it measured before that)"
fi

python3 "$BENCH_DIR/faults.py" table "$OUT" || die "no result rows"
if ((WRITE_RESULTS)); then
	python3 "$BENCH_DIR/faults.py" report "$OUT" --meta "$WORK/meta.tsv" --results "$RESULTS"
	save_raw "$OUT" "$WORK/meta.tsv"
	log "faults: wrote the reliability section of $RESULTS"
fi
exit "$rc"
