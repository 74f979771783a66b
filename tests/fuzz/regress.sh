#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CI regression run of one fuzz target: every checked-in input, then a
# fixed number of mutations from a fixed seed. New inputs go to a scratch
# directory (libFuzzer writes into its first corpus directory), crash
# reproducers into it too, so the checked-in corpus is never modified.
#   regress.sh FUZZER CORPUS SCRATCH RUNS
set -euo pipefail
fuzzer=$1 corpus=$2 scratch=$3 runs=$4
rm -rf "$scratch" && mkdir -p "$scratch/new" "$scratch/artifacts"
exec "$fuzzer" -runs="$runs" -seed=1 -print_final_stats=1 -max_len=65536 -timeout=25 \
  -rss_limit_mb=2048 -artifact_prefix="$scratch/artifacts/" "$scratch/new" "$corpus"
