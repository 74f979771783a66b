#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/fuzz.sh — runs the libFuzzer targets of tests/fuzz for a given time
# or number of executions each and prints, per target, executions, rate,
# coverage (edges, features), corpus size and what was found. The long runs
# of issue 15 (>= 10 million executions per target) are made with it; CI
# runs only the short regression (ctest -L fuzz in build-fuzz).
#
#   bench/fuzz.sh [--time SECONDS | --runs N] [--jobs J] [--build DIR] [TARGET...]
#
# Defaults: --time 60, every target, one process per target at a time (J
# targets in parallel). Each target starts from its checked-in corpus
# (tests/fuzz/corpus/T, never modified) plus what earlier runs of this script
# kept in DIR/fuzz-corpus/T; crash, leak and timeout reproducers land in
# DIR/fuzz-artifacts/T. Exit status 1 when any target found something.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

limit=(-max_total_time=60)
jobs=1
build=build-fuzz
targets=()
while (($#)); do
  case $1 in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if [[ ! -x $build/fuzz/fuzz_config ]] || [[ ${FUZZ_REBUILD:-1} == 1 ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSANWATCH_FUZZ=ON -DBUILD_TESTING=OFF \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" >/dev/null
  cmake --build "$build" --target fuzz_all -j"$(nproc)" >/dev/null
fi
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/*_fuzz.cpp; do t=${f##*/}; targets+=("${t%_fuzz.cpp}"); done
fi

logs=$build/fuzz-logs
mkdir -p "$logs"
run_one() {
  local t=$1 keep=$build/fuzz-corpus/$1 art=$build/fuzz-artifacts/$1
  mkdir -p "$keep" "$art"
  "$build/fuzz/fuzz_$t" "${limit[@]}" -print_final_stats=1 -max_len=65536 -timeout=25 \
    -rss_limit_mb=2048 -artifact_prefix="$art/" "$keep" "tests/fuzz/corpus/$t" \
    >"$logs/$t.log" 2>&1 || true
}
export -f run_one
export build logs
export limit_str="${limit[*]}"
# xargs for the parallelism; each job gets the limit through its own argv.
printf '%s\n' "${targets[@]}" |
  xargs -P "$jobs" -I{} bash -c 'limit=($limit_str); run_one "$@"' _ {}

found=0
printf '%-14s %14s %10s %8s %8s %8s %8s  %s\n' target execs exec/s seconds cov ft corpus result
for t in "${targets[@]}"; do
  log=$logs/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  result=ok
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz invariant failed' "$log"; then
    result="FOUND: $(grep -m1 -oE 'ERROR: [A-Za-z]+: [a-z-]+|runtime error: [^(]*|fuzz invariant failed: [^(]*' "$log") (see $log)"
    found=1
  fi
  printf '%-14s %14s %10s %8s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${secs:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $found
