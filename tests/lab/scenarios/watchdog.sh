#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# `sanwatch run` on real dm-multipath (Debian 6.1 kernel, scsi_debug paths):
#   1. a path fails -> path failed, map degraded, within milliseconds of the
#      kernel's PATH_FAILED uevent; reinstated -> both ok again
#   2. repeated fail/reinstate -> path flapping
#   3. all paths down under queue_if_no_path -> map stalled with the true age
#      of the queued I/O (dm's inflight counter reads 0 meanwhile); recovery
#   4. latency on every path -> map and paths slow
# Prints LAB-METRIC lines with the measured lags.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

start_agent() {
  cat >"$LAB_SANWATCH_CONF" <<TOML
log_level = "debug"
[devices]
rescan = "1s"
[thresholds]
slow_io = "20ms"
stall = "1s"
recovery = "2s"
flap_count = 3
flap_window = "1m"
[canary]
targets = "multipath"
period = "250ms"
deadline = "200ms"
[metrics]
listen = "127.0.0.1:0"
TOML
  lab_sanwatch_start
}

# lag_ms UEVENT_LINE STATE_LINE: from the uevent's arrival to the state change, in ms
lag_ms() {
  awk -v a="$(lab_json_num "$1" received_ns)" -v b="$(lab_json_num "$2" mono_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

path_failure() {
  lab_bg_reads_start "$LAB_DM"
  _m=$(lab_ev_mark)
  lab_path_offline sdb
  lab_ev_expect "$_m" sdb failed 10 "path failure"
  lab_ev_expect "$_m" "$LAB_MAP" degraded 10 "path failure"
  _ue=$(tail -n +"$((_m + 1))" "$LAB_EV" | grep '"msg":"uevent PATH_FAILED"' | head -n 1)
  _pf=$(lab_ev_line "$_m" sdb failed)
  _md=$(lab_ev_line "$_m" "$LAB_MAP" degraded)
  [ -n "$_ue" ] || lab_fail "no PATH_FAILED uevent logged"
  echo "LAB-METRIC uevent_to_path_failed_ms=$(lag_ms "$_ue" "$_pf")"
  echo "LAB-METRIC uevent_to_map_degraded_ms=$(lag_ms "$_ue" "$_md")"
  lab_assert_eq "valid paths in the map event" 1 "$(lab_json_num "$_md" valid_paths)"
  _m=$(lab_ev_mark)
  lab_path_online sdb
  lab_ev_expect "$_m" "$LAB_MAP" ok 15 "reinstated"
  lab_ev_expect "$_m" sdb ok 15 "reinstated"
  lab_bg_reads_stop "$LAB_DM"
}

flapping() {
  lab_bg_reads_start "$LAB_DM"
  _m=$(lab_ev_mark)
  for _i in 1 2; do
    lab_path_offline sdb
    lab_wait_path_state "$LAB_PATH_B" F 10 || lab_fail "dm did not fail sdb (cycle $_i)"
    lab_path_online sdb
    lab_wait_path_state "$LAB_PATH_B" A 10 || lab_fail "dm did not reinstate sdb (cycle $_i)"
  done
  lab_ev_expect "$_m" sdb flapping 10 "flapping"
  lab_bg_reads_stop "$LAB_DM"
}

all_paths_down() {
  _m=$(lab_ev_mark)
  lab_path_offline sda
  lab_path_offline sdb
  _t0=$(lab_uptime)
  # One read: it fails on both paths and then sits queued inside dm.
  (dd if="/dev/$LAB_DM" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null) &
  _dd=$!
  lab_ev_expect "$_m" "$LAB_MAP" down 10 "all paths down"
  lab_ev_expect "$_m" "$LAB_MAP" stalled 10 "all paths down"
  _st=$(lab_ev_line "$_m" "$LAB_MAP" stalled)
  echo "LAB-METRIC stalled_map_inflight_oldest_s=$(lab_json_num "$_st" inflight_oldest_s)"
  lab_log "dm inflight counters meanwhile: $(cat "/sys/block/$LAB_DM/inflight")"
  sleep 2
  _age=$(lab_run 10 wget -q -O - "$LAB_METRICS_URL" |
    grep "^sanwatch_inflight_oldest_seconds{device=\"$LAB_DM\"}" | awk '{ print $2 }')
  _wall=$(awk -v a="$_t0" -v b="$(lab_uptime)" 'BEGIN { printf "%.2f", b - a }')
  echo "LAB-METRIC stalled_map_scraped_age_s=$_age wall_s=$_wall"
  lab_assert "scraped age of the queued read grows (>= 2 s)" awk -v a="$_age" 'BEGIN { exit !(a >= 2) }'
  _m=$(lab_ev_mark)
  lab_path_online sda
  lab_path_online sdb
  lab_wait_for 20 eval "! kill -0 $_dd 2>/dev/null" || lab_fail "queued read did not complete"
  wait "$_dd"
  lab_ev_expect "$_m" "$LAB_MAP" ok 20 "paths back"
}

slow_paths() {
  _m=$(lab_ev_mark)
  lab_set_delay_ns 50000000
  lab_assert "reads at 50 ms" lab_dd_read "$LAB_DM" 10
  lab_ev_expect "$_m" "$LAB_MAP" slow 10 "50 ms on every path"
  lab_ev_expect "$_m" sda slow 10 "50 ms on every path"
  # sdb is still flapping (flap_window 1m), which outranks slow.
  lab_assert_eq "sdb stays flapping" "" "$(lab_ev_line "$_m" sdb ok)"
  lab_set_delay_ns 0
}

lab_setup_mpath --queue-if-no-path
start_agent
path_failure
flapping
all_paths_down
slow_paths
lab_sanwatch_stop
lab_log "events: $(grep -c '"event":"state"' "$LAB_EV") state changes"
