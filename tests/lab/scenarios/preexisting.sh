#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# I/O already outstanding when `sanwatch run` starts (Debian 6.1 kernel):
#   1. a read held inside the SCSI driver of one path (scsi_debug delay):
#      found in the path's tag table at start -> sda stalled at once, with
#      the read's true age
#   2. all paths down under queue_if_no_path, a read queued inside dm before
#      the agent starts -> map stalled at once with the true age; paths back
#      -> the read completes and the map recovers
#   3. the walk's cost on a 4-queue device (scsi_debug submit_queues=4,
#      max_queue=192: its largest; the per-slot cost scales to 4 x 1024)
# Prints LAB-METRIC lines.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

write_conf() {
  cat >"$LAB_SANWATCH_CONF" <<TOML
log_level = "debug"
[devices]
rescan = "1s"
[thresholds]
stall = "1s"
recovery = "1s"
[canary]
targets = "none"
[metrics]
listen = "127.0.0.1:0"
TOML
}

# age_ok LINE MIN: the event's inflight_oldest_s is at least MIN seconds.
age_ok() { awk -v a="$(lab_json_num "$1" inflight_oldest_s)" -v m="$2" 'BEGIN { exit !(a >= m) }'; }

driver_held() {
  # 6 s per command (delay is in jiffies, HZ=250): the read sits in sd.
  # It must outlast the 1.2 s below plus the agent's start-up to its walk
  # of sda, which takes 1.5-2 s under TCG: with 3 s it sometimes did not.
  lab_wait_for 5 lab_write_sysfs "$LAB_SCSI_DEBUG_SYSFS/delay" 1500 || lab_fail "cannot set delay"
  (dd if=/dev/sda of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null) &
  _dd=$!
  lab_wait_for 5 eval "[ \"\$(cat /sys/block/sda/inflight | awk '{ print \$1 + \$2 }')\" -gt 0 ]" ||
    lab_fail "the read did not reach sda"
  _t0=$(lab_uptime)
  sleep 1.2
  write_conf
  _m=0  # lab_sanwatch_start truncates the event log
  lab_sanwatch_start
  _wall=$(awk -v a="$_t0" -v b="$(lab_uptime)" 'BEGIN { printf "%.2f", b - a }')
  lab_ev_expect "$_m" sda stalled 2 "read held by the driver before start"
  _st=$(lab_ev_line "$_m" sda stalled)
  echo "LAB-METRIC driver_held_age_at_start_s=$(lab_json_num "$_st" inflight_oldest_s) waited_s=$_wall"
  lab_assert "its age is the read's, not the agent's (>= 1.2 s)" age_ok "$_st" 1.2
  grep '"msg":"sda: 1 I/O(s) outstanding when tracing started' "$LAB_EV" | head -n 1
  lab_assert "the walk found it" grep -q '"msg":"sda: 1 I/O(s) outstanding when tracing started' "$LAB_EV"
  lab_wait_for 10 eval "! kill -0 $_dd 2>/dev/null" || lab_fail "held read did not complete"
  wait "$_dd"
  lab_set_delay_ns 0
  lab_sanwatch_stop
}

queued_in_dm() {
  lab_path_offline sda
  lab_path_offline sdb
  (dd if="/dev/$LAB_DM" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null) &
  _dd=$!
  _t0=$(lab_uptime)
  lab_wait_path_state "$LAB_PATH_A" F 10 || lab_fail "dm did not fail sda"
  lab_wait_path_state "$LAB_PATH_B" F 10 || lab_fail "dm did not fail sdb"
  sleep 1.5
  lab_log "before start: dm inflight $(cat "/sys/block/$LAB_DM/inflight")"
  _m=0  # lab_sanwatch_start truncates the event log
  lab_sanwatch_start
  _wall=$(awk -v a="$_t0" -v b="$(lab_uptime)" 'BEGIN { printf "%.2f", b - a }')
  lab_ev_expect "$_m" "$LAB_MAP" stalled 2 "read queued in dm before start"
  _st=$(lab_ev_line "$_m" "$LAB_MAP" stalled)
  echo "LAB-METRIC dm_queued_age_at_start_s=$(lab_json_num "$_st" inflight_oldest_s) waited_s=$_wall"
  lab_assert "its age is the queued read's (>= 1.5 s)" age_ok "$_st" 1.5
  _m=$(lab_ev_mark)
  lab_path_online sda
  lab_path_online sdb
  lab_wait_for 20 eval "! kill -0 $_dd 2>/dev/null" || lab_fail "queued read did not complete"
  wait "$_dd"
  lab_wait_for 10 eval "tail -n +$((_m + 1)) $LAB_EV | grep -q '\"target\":\"$LAB_MAP\".*\"from\":\"stalled\"'" ||
    lab_fail "map did not leave stalled"
  lab_log "after: $(tail -n +$((_m + 1)) "$LAB_EV" | grep "\"target\":\"$LAB_MAP\".*\"from\":\"stalled\"" | head -n 1)"
  lab_sanwatch_stop
}

walk_cost() {
  lab_teardown_mpath
  lab_run "$LAB_CMD_TIMEOUT" rmmod scsi_debug || lab_fail "rmmod scsi_debug"
  lab_run "$LAB_CMD_TIMEOUT" modprobe scsi_debug add_host=1 num_tgts=1 max_luns=1 dev_size_mb=16 \
    delay=0 submit_queues=4 max_queue=192 || lab_fail "modprobe scsi_debug (4 queues)"
  lab_wait_for 20 test -b /dev/sda || lab_fail "sda did not appear"
  lab_log "sda: $(ls /sys/block/sda/mq | wc -l) hw queues, nr_tags $(cat /sys/block/sda/mq/0/nr_tags)"
  write_conf
  _m=0  # lab_sanwatch_start truncates the event log
  lab_sanwatch_start
  _l=$(grep '"msg":"sda: ' "$LAB_EV" | grep 'tag slots walked' | head -n 1)
  [ -n "$_l" ] || lab_fail "no walk line for sda"
  lab_log "$_l"
  echo "LAB-METRIC walk_4_queues_$(echo "$_l" | sed -n 's/.*(\([0-9]*\) seeded, \([0-9]*\) tag slots walked in \([0-9]*\) us).*/slots=\2 us=\3/p')"
  lab_sanwatch_stop
}

lab_setup_mpath --queue-if-no-path
driver_held
queued_in_dm
walk_cost
