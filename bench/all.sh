#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/all.sh — every benchmark, one after the other, each rewriting its own
# section of bench/RESULTS.md. See bench/README.md.
#
#   bench/all.sh [--quick] [--skip NAME]...
#
# NAME: overhead (run.sh), detect, footprint, scale, ledger, lab-detect. A full
# run takes about 50 minutes on a 2-core VM (detect.sh alone ~20); --quick is the
# smoke run of each (a few minutes; the figures mean nothing). Root only. The
# benchmarks measure this machine: run nothing else meanwhile.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

quick=()
skip=" "
while (($#)); do
	case $1 in
	# Smoke figures must not overwrite real ones: they go to a scratch file.
	--quick) quick=(--quick --results "${TMPDIR:-/tmp}/sanwatch-bench-quick.md") ;;
	--skip) skip+="${2:?--skip needs a name} "; shift ;;
	-h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "all.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

failed=()
for step in overhead:run.sh detect:detect.sh footprint:footprint.sh scale:scale.sh \
	ledger:ledger.sh lab-detect:lab-detect.sh; do
	name=${step%%:*} script=${step#*:}
	[[ $skip == *" $name "* ]] && { echo "== $name: skipped"; continue; }
	extra=()
	# detect.sh's own lab runs measure path failure with one trial per boot;
	# lab-detect.sh measures it properly: do not boot the lab for both.
	[[ $name == detect && $skip != *" lab-detect "* ]] && extra=(--lab-runs 0)
	echo "== $name ($script ${quick[*]:0:1} ${extra[*]}) $(date -u +%H:%M:%S)"
	"$BENCH_DIR/$script" "${quick[@]}" "${extra[@]}" || failed+=("$name")
done
if ((${#failed[@]})); then
	echo "all.sh: failed: ${failed[*]}" >&2
	exit 1
fi
echo "all.sh: done; results in ${quick[2]:-$BENCH_DIR/RESULTS.md}"
