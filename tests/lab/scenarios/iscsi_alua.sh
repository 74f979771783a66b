#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# iSCSI with ALUA: a LIO target with two target portal groups on loopback
# (TPGT 1 127.0.0.1:3260 in ALUA group 1, TPGT 2 :3261 in group 2), two RAM
# LUNs, open-iscsi logged into both portals, mpatha/mpathb with scsi_dh_alua
# in multipathd's group_by_prio layout, reads running on both maps:
#   1. group 1 -> standby, group 2 -> optimized (a controller failover):
#      access_state events for the paths, their dm failure, the maps stay ok
#      and their I/O moves to group 2 (active_group events)
#   2. failback (as multipathd would: reinstate, switch_group 1), then
#      group 1 -> unavailable: the same, the map ok on the non-optimized path
#   3. portal 127.0.0.1:3260 down: both paths through it fail at the
#      replacement timeout, the maps are degraded and the port is blamed
#   4. the portal back: iscsid logs in again, paths reinstated and I/O
#      failed back to group 1 (as multipathd would), all ok
# The paths' SCSI command counters (/metrics and the state events'
# evidence) and the lags from each change are printed as LAB-METRIC lines.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

readonly PROM=/tmp/metrics.txt

write_config() {
  # No canaries: a canary on a standby path would fail on its own and blur
  # what dm and ALUA did. The portal-down hold (replacement timeout) is
  # below the stall threshold; each path fails three times on purpose here
  # (two failovers, the portal), which is not flapping. A short error
  # window: the errors of a failover or of the portal's loss keep a path
  # failed that long after dm reinstates it.
  cat >"$LAB_SANWATCH_CONF" <<TOML
log_level = "debug"
[devices]
rescan = "1s"
[thresholds]
stall = "10s"
slow_window = "2s"
recovery = "1s"
flap_count = 10
[canary]
targets = "none"
[metrics]
listen = "127.0.0.1:0"
refresh = "250ms"
TOML
}

metric() { echo "LAB-METRIC $*"; }

# lun N: _a (its path through portal 1) and _map.
lun() {
  if [ "$1" = 0 ]; then _a=$A0 _map=$MAP0; else _a=$A1 _map=$MAP1; fi
}

paths_json() {
  lab_run 20 sanwatch paths --json -i 0 --agent "$LAB_METRICS_URL" >/tmp/paths.json 2>/tmp/paths.err ||
    { cat /tmp/paths.err; lab_fail "sanwatch paths failed"; }
}

# What `sanwatch paths` says of the topology: ALUA states and groups, the
# iSCSI identity of each path.
check_paths() {
  paths_json
  _pf() { lab_paths_field /tmp/paths.json path "$1" "$2"; }
  lab_assert_eq "paths: $A0 ALUA state" active/optimized "$(_pf "$A0" alua_state)"
  lab_assert_eq "paths: $B0 ALUA state" active/non-optimized "$(_pf "$B0" alua_state)"
  lab_assert_eq "paths: $A0 ALUA group" 1 "$(_pf "$A0" alua_group)"
  lab_assert_eq "paths: $B0 ALUA group" 2 "$(_pf "$B0" alua_group)"
  lab_assert_eq "paths: $A0 dm group" 1 "$(_pf "$A0" dm_group)"
  lab_assert_eq "paths: $A0 portal" "$LAB_PORTAL_1" "$(_pf "$A0" portal)"
  lab_assert_eq "paths: $B0 portal" "$LAB_PORTAL_2" "$(_pf "$B0" portal)"
  lab_assert_eq "paths: $A0 iSCSI target" "$LAB_ISCSI_IQN" "$(_pf "$A0" target_name)"
  lab_assert_eq "paths: $A0 TPGT" 1 "$(_pf "$A0" tpgt)"
  lab_assert_eq "paths: $B0 TPGT" 2 "$(_pf "$B0" tpgt)"
  lab_assert_eq "paths: $A0 session state" LOGGED_IN "$(_pf "$A0" session_state)"
  lab_assert "paths: $A0 session named" test -n "$(_pf "$A0" session)"
  lab_assert_eq "paths: $A0 target port" "$LAB_ISCSI_IQN,$LAB_PORTAL_1" "$(_pf "$A0" target_port)"
  lab_run 20 sanwatch paths -i 0 --agent "$LAB_METRICS_URL"
}

# alua_failover GROUP STATE: group GROUP (carrying the I/O) to STATE, the
# other to optimized if STATE is standby (a failover) or left as it is.
alua_failover() {
  _m=$(lab_ev_mark)
  _t0=$(lab_mono_ns)
  lab_alua_set_state 1 "$1"
  [ "$1" = standby ] && lab_alua_set_state 2 optimized
  for _lun in 0 1; do
    lun "$_lun"
    lab_notice_expect "$_m" access_state "$_a" "$1" 5 "$_map: $_a $1"
    _as=$(lab_notice_line "$_m" access_state "$_a" "$1")
    lab_ev_expect "$_m" "$_a" failed 5 "$_map: $_a failed (its I/O errors, or dm)"
    _pf=$(lab_ev_line "$_m" "$_a" failed)
    lab_notice_expect "$_m" active_group "$_map" 2 5 "$_map: I/O on group 2"
    _ag=$(lab_notice_line "$_m" active_group "$_map" 2)
    # When the kernel's uevents reached the agent: its own lag is the rest.
    _hctl=$(basename "$(readlink -f "/sys/block/$_a/device")")
    _ua=$(tail -n +"$((_m + 1))" "$LAB_EV" | grep '"msg":"uevent SDEV_UA"' | grep "\"hctl\":\"$_hctl\"" | head -n 1)
    _pu=$(tail -n +"$((_m + 1))" "$LAB_EV" | grep '"msg":"uevent PATH_FAILED"' | grep "\"map\":\"$_map\"" | head -n 1)
    metric "alua_$1 $_map $_a access_state_event_ms=$(lab_lag_ms "$_as" "$_t0")" \
      "path_failed_ms=$(lab_lag_ms "$_pf" "$_t0") active_group_2_ms=$(lab_lag_ms "$_ag" "$_t0")" \
      "uevent_sdev_ua_received_ms=$(lab_lag_ms "$_ua" "$_t0" received_ns)" \
      "uevent_path_failed_received_ms=$(lab_lag_ms "$_pu" "$_t0" received_ns)" \
      "access_state_cause=$(echo "$_as" | sed -n 's/.*"cause":"\([^"]*\)".*/\1/p' | tr ' ,' '_')"
  done
  tail -n +"$((_m + 1))" "$LAB_EV" | grep -E '"event":"(access_state|active_group)"|uevent|"event":"state"' | cut -c1-400 | head -n 20
  sleep 1  # a degraded map would have shown by now (the 0.5 s grace is over)
  lab_ev_none "$_m" "$MAP0" degraded "$MAP0 stays ok: its I/O continues on group 2"
  lab_ev_none "$_m" "$MAP1" degraded "$MAP1 stays ok"
  lab_ev_none "$_m" "$LAB_ISCSI_IQN,$LAB_PORTAL_1" degraded "no port blamed for a failover"
  lab_scrape "$PROM"
  lab_assert_eq "$MAP0 state" ok "$(lab_state "$PROM" "$MAP0")"
  lab_assert_eq "$MAP0 active group (metric)" 2 "$(lab_metric "$PROM" sanwatch_map_active_group map="$MAP0")"
  lab_log "$(lab_mpath_status "$MAP0")"
}

# failback: group 1 optimized, 2 non-optimized; reinstate and switch back as
# multipathd (failback immediate) would.
failback() {
  _m=$(lab_ev_mark)
  lab_alua_set_state 1 optimized
  lab_alua_set_state 2 non-optimized
  for _lun in 0 1; do
    lun "$_lun"
    lab_reinstate "$_map" "$_a"
    lab_run "$LAB_CMD_TIMEOUT" dmsetup message "$_map" 0 switch_group 1 || lab_fail "switch_group 1 failed"
  done
  for _lun in 0 1; do
    lun "$_lun"
    lab_ev_expect "$_m" "$_a" ok 10 "failback: $_a"
    lab_notice_expect "$_m" active_group "$_map" 1 10 "failback: $_map I/O on group 1"
    lab_notice_expect "$_m" access_state "$_a" active/optimized 10 "failback: $_a"
  done
}

portal_down() {
  _m=$(lab_ev_mark)
  _t0=$(lab_mono_ns)
  lab_iscsi_portal_down 1
  _port="$LAB_ISCSI_IQN,$LAB_PORTAL_1"
  for _lun in 0 1; do
    lun "$_lun"
    lab_ev_expect "$_m" "$_a" failed 15 "portal down: $_a"
    lab_ev_expect "$_m" "$_map" degraded 15 "portal down: $_map"
    _pf=$(lab_ev_line "$_m" "$_a" failed)
    _md=$(lab_ev_line "$_m" "$_map" degraded)
    metric "portal_down $_map $_a path_failed_ms=$(lab_lag_ms "$_pf" "$_t0") map_degraded_ms=$(lab_lag_ms "$_md" "$_t0")" \
      "scsi_iodone=$(lab_json_num "$_pf" scsi_iodone) scsi_ioerr=$(lab_json_num "$_pf" scsi_ioerr) scsi_iotmo=$(lab_json_num "$_pf" scsi_iotmo)"
    lab_assert "$_a failed event carries SCSI counter deltas" test -n "$(lab_json_num "$_pf" scsi_iodone)"
  done
  lab_ev_expect "$_m" "$_port" degraded 15 "portal down: port blamed"
  _pb=$(lab_ev_line "$_m" "$_port" degraded)
  lab_assert "the port event names both paths" eval "echo '$_pb' | grep -q '\"paths\":\[\"[a-z]*\",\"[a-z]*\"\]'"
  metric "portal_down port_blamed_ms=$(lab_lag_ms "$_pb" "$_t0")"
  lab_ev_none "$_m" "$LAB_ISCSI_IQN,$LAB_PORTAL_2" degraded "the other portal is not blamed"
  lab_log "session of $A0: $(lab_iscsi_session_state "$A0"), SCSI $(cat "/sys/block/$A0/device/state")"
}

portal_up() {
  _m=$(lab_ev_mark)
  _t0=$(lab_mono_ns)
  lab_iscsi_portal_up 1
  lab_wait_for 15 eval "[ \"\$(lab_iscsi_session_state $A0)\" = LOGGED_IN ] && [ \"\$(lab_iscsi_session_state $A1)\" = LOGGED_IN ]" ||
    lab_fail "iSCSI sessions through $LAB_PORTAL_1 did not come back"
  lab_wait_for 10 eval "grep -q running /sys/block/$A0/device/state && grep -q running /sys/block/$A1/device/state" ||
    lab_fail "SCSI devices did not return to running"
  _tl=$(lab_mono_ns)
  metric "portal_up session_logged_in_ms=$(((_tl - _t0) / 1000000))"
  # multipathd's checker reinstates the path, failback immediate switches
  # back to the optimized group.
  for _lun in 0 1; do
    lun "$_lun"
    lab_reinstate "$_map" "$_a"
    lab_run "$LAB_CMD_TIMEOUT" dmsetup message "$_map" 0 switch_group 1 || lab_fail "switch_group 1 failed"
  done
  _port="$LAB_ISCSI_IQN,$LAB_PORTAL_1"
  for _lun in 0 1; do
    lun "$_lun"
    lab_ev_expect "$_m" "$_a" ok 10 "recovery: $_a"
    lab_ev_expect "$_m" "$_map" ok 10 "recovery: $_map"
    _po=$(lab_ev_line "$_m" "$_a" ok)
    _mo=$(lab_ev_line "$_m" "$_map" ok)
    lab_notice_expect "$_m" active_group "$_map" 1 10 "recovery: $_map I/O on group 1"
    _ag=$(lab_notice_line "$_m" active_group "$_map" 1)
    metric "recovery $_map $_a path_ok_after_reinstate_ms=$(lab_lag_ms "$_po" "$_tl") map_ok_after_reinstate_ms=$(lab_lag_ms "$_mo" "$_tl")" \
      "active_group_1_ms=$(lab_lag_ms "$_ag" "$_tl")"
  done
  lab_ev_expect "$_m" "$_port" ok 10 "recovery: port"
}

counters() {
  sleep 1.2  # a counters refresh
  lab_scrape "$PROM"
  grep '^sanwatch_scsi_' "$PROM"
  for _d in "$A0" "$B0" "$A1" "$B1"; do
    _done=$(lab_metric "$PROM" sanwatch_scsi_iodone_total path="$_d")
    _sys=$(($(cat "/sys/block/$_d/device/iodone_cnt")))
    metric "scsi $_d iodone=$_done ioerr=$(lab_metric "$PROM" sanwatch_scsi_ioerr_total path="$_d")" \
      "iotmo=$(lab_metric "$PROM" sanwatch_scsi_iotmo_total path="$_d") sysfs_iodone_now=$_sys"
    lab_assert "$_d: iodone counted" test "$_done" -gt 0
    lab_assert "$_d: iodone within the sysfs value" test "$_done" -le "$_sys"
  done
  lab_assert "$A0: the ALUA and portal errors counted" test "$(lab_metric "$PROM" sanwatch_scsi_ioerr_total path="$A0")" -gt 0
}

_t_setup=$(lab_mono_ns)
lab_setup_iscsi_alua
A0=$LAB_ISCSI_A0 B0=$LAB_ISCSI_B0 A1=$LAB_ISCSI_A1 B1=$LAB_ISCSI_B1 MAP0=mpatha MAP1=mpathb
metric "setup_ms=$((($(lab_mono_ns) - _t_setup) / 1000000))"
write_config
lab_sanwatch_start
lab_bg_reads_start "$LAB_DM_0"
lab_bg_reads_start "$LAB_DM_1"
check_paths
alua_failover standby
failback
alua_failover unavailable
failback
portal_down
portal_up
counters
lab_run 20 sanwatch paths -i 0 --agent "$LAB_METRICS_URL"
lab_bg_reads_stop "$LAB_DM_0"
lab_bg_reads_stop "$LAB_DM_1"
lab_sanwatch_stop
