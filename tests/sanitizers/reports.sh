#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints the sanitizer reports a test run left in <build dir>/sanitizer-reports/
# (tests/sanitizers/env.sh) and exits 1 if there is any; 0 when there is none.
# --clear removes old reports first (before a run).
set -euo pipefail
dir=${1:?usage: reports.sh <build dir> [--clear]}/sanitizer-reports
if [[ ${2:-} == --clear ]]; then
  rm -rf "$dir"
  exit 0
fi
shopt -s nullglob
reports=("$dir"/*)
((${#reports[@]} == 0)) && exit 0
for r in "${reports[@]}"; do
  echo "==== sanitizer report $r"
  cat "$r"
done
echo "sanitizers: ${#reports[@]} report(s) in $dir" >&2
exit 1
