#!/bin/sh
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

readonly EV=/tmp/sanwatch-events.jsonl

start_agent() {
  cat >/tmp/sanwatch.toml <<TOML
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
  sanwatch run --config /tmp/sanwatch.toml 2>"$EV" &
  SANWATCH_PID=$!
  lab_assert "sanwatch run is ready" lab_wait_for 60 grep -q '"msg":"ready"' "$EV"
  lab_log "$(grep '"msg":"ready"' "$EV")"
}

stop_agent() {
  kill -TERM "$SANWATCH_PID"
  lab_wait_for 10 eval "! kill -0 $SANWATCH_PID 2>/dev/null" || lab_fail "sanwatch did not stop"
  wait "$SANWATCH_PID"
  lab_assert_eq "sanwatch exit status" 0 "$?"
}

ev_mark() { wc -l <"$EV"; }
# ev_line MARK TARGET TO: the first state event after line MARK.
ev_line() {
  tail -n +"$(($1 + 1))" "$EV" | grep '"event":"state"' | grep "\"target\":\"$2\"" |
    grep "\"to\":\"$3\"" | head -n 1
}
ev_seen() { [ -n "$(ev_line "$@")" ]; }
ev_wait() { lab_wait_for "$4" ev_seen "$1" "$2" "$3"; }
json_num() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p"; }
# lag_ms UEVENT_LINE STATE_LINE: from the uevent's arrival to the state change, in ms
lag_ms() {
  awk -v a="$(json_num "$1" received_ns)" -v b="$(json_num "$2" mono_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

expect() {  # expect MARK TARGET TO SECONDS WHAT
  ev_wait "$1" "$2" "$3" "$4" || { tail -n 40 "$EV"; lab_fail "$5: no $2 -> $3 event"; }
  lab_log "$5: $(ev_line "$1" "$2" "$3")"
}

path_failure() {
  lab_bg_reads_start "$LAB_DM"
  _m=$(ev_mark)
  lab_path_offline sdb
  expect "$_m" sdb failed 10 "path failure"
  expect "$_m" "$LAB_MAP" degraded 10 "path failure"
  _ue=$(tail -n +"$((_m + 1))" "$EV" | grep '"msg":"uevent PATH_FAILED"' | head -n 1)
  _pf=$(ev_line "$_m" sdb failed)
  _md=$(ev_line "$_m" "$LAB_MAP" degraded)
  [ -n "$_ue" ] || lab_fail "no PATH_FAILED uevent logged"
  echo "LAB-METRIC uevent_to_path_failed_ms=$(lag_ms "$_ue" "$_pf")"
  echo "LAB-METRIC uevent_to_map_degraded_ms=$(lag_ms "$_ue" "$_md")"
  lab_assert_eq "valid paths in the map event" 1 "$(json_num "$_md" valid_paths)"
  _m=$(ev_mark)
  lab_path_online sdb
  expect "$_m" "$LAB_MAP" ok 15 "reinstated"
  expect "$_m" sdb ok 15 "reinstated"
  lab_bg_reads_stop "$LAB_DM"
}

flapping() {
  lab_bg_reads_start "$LAB_DM"
  _m=$(ev_mark)
  for _i in 1 2; do
    lab_path_offline sdb
    lab_wait_path_state "$LAB_PATH_B" F 10 || lab_fail "dm did not fail sdb (cycle $_i)"
    lab_path_online sdb
    lab_wait_path_state "$LAB_PATH_B" A 10 || lab_fail "dm did not reinstate sdb (cycle $_i)"
  done
  expect "$_m" sdb flapping 10 "flapping"
  lab_bg_reads_stop "$LAB_DM"
}

all_paths_down() {
  _m=$(ev_mark)
  lab_path_offline sda
  lab_path_offline sdb
  _t0=$(lab_uptime)
  # One read: it fails on both paths and then sits queued inside dm.
  (dd if="/dev/$LAB_DM" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null) &
  _dd=$!
  expect "$_m" "$LAB_MAP" down 10 "all paths down"
  expect "$_m" "$LAB_MAP" stalled 10 "all paths down"
  _st=$(ev_line "$_m" "$LAB_MAP" stalled)
  echo "LAB-METRIC stalled_map_inflight_oldest_s=$(json_num "$_st" inflight_oldest_s)"
  lab_log "dm inflight counters meanwhile: $(cat "/sys/block/$LAB_DM/inflight")"
  sleep 2
  _age=$(lab_run 10 wget -q -O - "http://$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$EV" | head -n 1)/metrics" |
    grep "^sanwatch_inflight_oldest_seconds{device=\"$LAB_DM\"}" | awk '{ print $2 }')
  _wall=$(awk -v a="$_t0" -v b="$(lab_uptime)" 'BEGIN { printf "%.2f", b - a }')
  echo "LAB-METRIC stalled_map_scraped_age_s=$_age wall_s=$_wall"
  lab_assert "scraped age of the queued read grows (>= 2 s)" awk -v a="$_age" 'BEGIN { exit !(a >= 2) }'
  _m=$(ev_mark)
  lab_path_online sda
  lab_path_online sdb
  lab_wait_for 20 eval "! kill -0 $_dd 2>/dev/null" || lab_fail "queued read did not complete"
  wait "$_dd"
  expect "$_m" "$LAB_MAP" ok 20 "paths back"
}

slow_paths() {
  _m=$(ev_mark)
  lab_set_delay_ns 50000000
  lab_assert "reads at 50 ms" lab_dd_read "$LAB_DM" 10
  expect "$_m" "$LAB_MAP" slow 10 "50 ms on every path"
  expect "$_m" sda slow 10 "50 ms on every path"
  # sdb is still flapping (flap_window 1m), which outranks slow.
  lab_assert_eq "sdb stays flapping" "" "$(ev_line "$_m" sdb ok)"
  lab_set_delay_ns 0
}

lab_setup_mpath --queue-if-no-path
start_agent
path_failure
flapping
all_paths_down
slow_paths
stop_agent
lab_log "events: $(grep -c '"event":"state"' "$EV") state changes"
