#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# Smoke scenario: proves the lab works end to end.
#   1. two scsi_debug paths + a multipath map; direct reads through it
#   2. path sdb offline -> dm marks 8:16 F (on the next I/O); reinstate -> A;
#      scsi_debug's ndelay slows reads
#   3. if sanwatch was put in with --bin: its BPF programs load on this
#      kernel (the CO-RE proof) and count exactly what dd did.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

readonly COUNTED_READS=500

check_reads() {
  lab_assert "256 direct 4k reads on $LAB_DM" lab_dd_read "$LAB_DM" 256
}

check_path_failover() {
  lab_assert_eq "8:16 healthy" A "$(lab_path_state "$LAB_PATH_B")"
  lab_path_offline sdb
  # Round-robin with repeat_count 1 sends the next I/Os to sdb too: they
  # fail there, dm fails the path and retries them on sda, so dd succeeds.
  lab_assert "reads with sdb offline" lab_dd_read "$LAB_DM" 64
  lab_assert "8:16 failed in dm status" lab_wait_path_state "$LAB_PATH_B" F 10
  lab_assert_eq "8:0 still active" A "$(lab_path_state "$LAB_PATH_A")"
  lab_log "status: $(lab_mpath_status)"
  lab_path_online sdb
  lab_assert "8:16 active after reinstate" lab_wait_path_state "$LAB_PATH_B" A 10
  lab_log "status: $(lab_mpath_status)"
  check_reads
}

# scsi_debug's ndelay slows every path: 20 reads at 2 ms take >= 40 ms.
check_delay() {
  lab_set_delay_ns 2000000
  _t0=$(lab_uptime)
  lab_assert "20 reads with ndelay 2 ms" lab_dd_read "$LAB_DM" 20
  _ms=$(awk -v a="$_t0" -v b="$(lab_uptime)" 'BEGIN { printf "%d", (b - a) * 1000 }')
  lab_set_delay_ns 0
  lab_log "20 reads with ndelay 2 ms took ${_ms} ms"
  lab_assert "ndelay slows reads down" test "$_ms" -ge 40
}

# The periodic JSON report while dd keeps the map busy.
sanwatch_periodic() {
  lab_bg_reads_start "$LAB_DM"
  _rc=0
  lab_run 90 sanwatch hist -d "$LAB_DM" -d sda -d sdb --json -i 1 -c 3 \
    >/tmp/sanwatch.json 2>/tmp/sanwatch.err || _rc=$?
  lab_bg_reads_stop "$LAB_DM"
  lab_log "sanwatch hist -i 1 -c 3 exited $_rc; stderr:"
  cat /tmp/sanwatch.err
  lab_log "sanwatch stdout:"
  cat /tmp/sanwatch.json
  if [ "$_rc" -ne 0 ]; then
    lab_log "again with -v for libbpf's log:"
    lab_run 90 sanwatch hist -d "$LAB_DM" -c 1 -i 1 -v 2>&1 | tail -n 200
    lab_fail "sanwatch hist failed ($_rc)"
  fi
}

# json_read_count DEV FILE: DEV's read count summed over the intervals.
# No jq in the guest: split each object at "buckets" (sanwatch's keys are
# sorted, so it starts every histogram), drop the bucket array, and read
# the one "count" left in that histogram's part.
json_read_count() {
  awk -v dev="\"$1\"" '{
    n = split($0, part, /"buckets": *\[/)
    for (i = 2; i <= n; i++) {
      h = part[i]
      sub(/^[^]]*\]/, "", h)
      if (index(h, "\"device\":" dev) == 0 || h !~ /"op": *"read"/) continue
      if (match(h, /"count": *[0-9]+/)) { c = substr(h, RSTART, RLENGTH); sub(/.*: */, "", c); s += c }
    }
  } END { print s + 0 }' "$2"
}

# A known number of requests while sanwatch traces: is it one count per
# request on each level (dm-0 once, sda+sdb once in total)?
sanwatch_counts() {
  sanwatch hist -d "$LAB_DM" -d sda -d sdb --json >/tmp/count.json 2>/tmp/count.err &
  _pid=$!
  lab_wait_for 60 grep -q Tracing /tmp/count.err || {
    cat /tmp/count.err
    kill "$_pid" 2>/dev/null
    lab_fail "sanwatch did not start tracing"
  }
  lab_assert "$COUNTED_READS direct reads under sanwatch" lab_dd_read "$LAB_DM" "$COUNTED_READS"
  sleep 0.5
  kill -INT "$_pid"
  lab_wait_for 20 eval "! kill -0 $_pid 2>/dev/null" || kill -KILL "$_pid"
  _rc=0
  wait "$_pid" || _rc=$?
  lab_log "sanwatch (Ctrl-C after $COUNTED_READS reads) exited $_rc:"
  cat /tmp/count.json
  lab_assert_eq "sanwatch exit status after Ctrl-C" 0 "$_rc"
  _dm=$(json_read_count "$LAB_DM" /tmp/count.json)
  _a=$(json_read_count sda /tmp/count.json)
  _b=$(json_read_count sdb /tmp/count.json)
  lab_log "COUNTS: reads=$COUNTED_READS $LAB_DM=$_dm sda=$_a sdb=$_b paths=$((_a + _b))"
  # Nothing else reads in this guest (no udev, no blkid), so the counts are
  # exact: one per request on the map, and the clones split over the paths.
  # (6.1 fires block_rq_complete twice per dm request; sanwatch must not
  # count the second, nr_bytes = 0, one.)
  lab_assert_eq "$LAB_DM reads counted once each" "$COUNTED_READS" "$_dm"
  lab_assert_eq "path reads (sda + sdb)" "$COUNTED_READS" "$((_a + _b))"
}

main() {
  lab_setup_mpath
  lab_log "table:  $(lab_run 10 dmsetup table "$LAB_MAP")"
  lab_log "status: $(lab_mpath_status)"
  check_reads
  check_path_failover
  check_delay
  if command -v sanwatch >/dev/null; then
    sanwatch_periodic
    sanwatch_counts
  else
    lab_log "no sanwatch binary in the image (pass --bin), BPF part skipped"
  fi
  lab_teardown_mpath
  lab_log "smoke done"
}

main
