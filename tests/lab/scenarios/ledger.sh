#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# The evidence ledger on real dm-multipath (Debian 6.1 kernel, scsi_debug):
#   1. a path failure and its reinstatement -> an incident on that path
#      (worst failed) with the array's identity, and a degraded one on the map
#   2. all paths down under queue_if_no_path with a read queued -> an incident
#      on the map (worst stalled) naming both paths and the array
#   3. the chain verifies; a row changed with the sqlite3 CLI is named
#   4. a ledger on a filesystem on the watched map is reported at start
# Prints LAB-METRIC lines with the impairment durations measured.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

readonly LEDGER=/tmp/ledger.db

write_config() {
  cat >"$LAB_SANWATCH_CONF" <<TOML
log_level = "debug"
[devices]
rescan = "1s"
[thresholds]
slow_io = "20ms"
stall = "1s"
recovery = "2s"
[canary]
targets = "multipath"
period = "250ms"
deadline = "200ms"
[metrics]
listen = "127.0.0.1:0"
[ledger]
path = "$1"
TOML
}

# q SQL: one query against the ledger, "|"-separated columns.
q() { sqlite3 "$LEDGER" "$1"; }

path_failure() {
  lab_bg_reads_start "$LAB_DM"
  _m=$(lab_ev_mark)
  lab_path_offline sdb
  lab_ev_expect "$_m" sdb failed 10 "path failure"
  sleep 1
  _m=$(lab_ev_mark)
  lab_path_online sdb
  lab_ev_expect "$_m" sdb ok 15 "reinstated"
  lab_ev_expect "$_m" "$LAB_MAP" ok 15 "reinstated"
  lab_bg_reads_stop "$LAB_DM"
}

all_paths_down() {
  _m=$(lab_ev_mark)
  lab_path_offline sda
  lab_path_offline sdb
  (dd if="/dev/$LAB_DM" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null) &
  _dd=$!
  lab_ev_expect "$_m" "$LAB_MAP" stalled 10 "all paths down"
  sleep 2
  _m=$(lab_ev_mark)
  lab_path_online sda
  lab_path_online sdb
  lab_wait_for 20 eval "! kill -0 $_dd 2>/dev/null" || lab_fail "queued read did not complete"
  wait "$_dd"
  lab_ev_expect "$_m" "$LAB_MAP" ok 20 "paths back"
}

check_incidents() {
  _sel="SELECT json_extract(body, '\$.worst_state'), json_extract(body, '\$.array'),
          json_extract(body, '\$.identity.wwid'), json_extract(body, '\$.paths'),
          json_extract(body, '\$.impairment.duration_ms'), json_extract(body, '\$.basis'),
          json_extract(body, '\$.serial')
        FROM entries WHERE kind = 'incident'"
  lab_log "incidents: $(q "SELECT target, body FROM entries WHERE kind = 'incident'")"
  _path=$(q "$_sel AND target = 'sdb' AND json_extract(body, '\$.worst_state') = 'failed'" | head -n 1)
  [ -n "$_path" ] || lab_fail "no failed incident on sdb"
  lab_assert_eq "sdb incident: array" "Linux scsi_debug" "$(echo "$_path" | cut -d'|' -f2)"
  lab_assert_eq "sdb incident: basis" hard "$(echo "$_path" | cut -d'|' -f6)"
  echo "LAB-METRIC path_failed_impairment_ms=$(echo "$_path" | cut -d'|' -f5)"
  _map=$(q "$_sel AND target = '$LAB_MAP' AND json_extract(body, '\$.worst_state') = 'stalled'" | head -n 1)
  [ -n "$_map" ] || lab_fail "no stalled incident on $LAB_MAP"
  lab_assert_eq "map incident: array" "Linux scsi_debug" "$(echo "$_map" | cut -d'|' -f2)"
  lab_assert_eq "map incident: wwid" "$LAB_WWID" "$(echo "$_map" | cut -d'|' -f3)"
  lab_assert_eq "map incident: paths" '["sda","sdb"]' "$(echo "$_map" | cut -d'|' -f4)"
  lab_assert_eq "map incident: LUN serial (VPD 0x80)" "$(cat /sys/block/sda/device/vpd_pg80 | tail -c +5 | tr -d '\000 ')" \
    "$(echo "$_map" | cut -d'|' -f7)"
  echo "LAB-METRIC map_stalled_impairment_ms=$(echo "$_map" | cut -d'|' -f5)"
  lab_assert "the map's stall lasted at least the 2 s the paths were down" \
    awk -v d="$(echo "$_map" | cut -d'|' -f5)" 'BEGIN { exit !(d >= 2000) }'
  _deg=$(q "$_sel AND target = '$LAB_MAP' AND json_extract(body, '\$.worst_state') = 'degraded'")
  [ -n "$_deg" ] || lab_fail "no degraded incident on $LAB_MAP for the path failure"
}

check_chain() {
  lab_assert "the ledger verifies" sanwatch report verify --ledger "$LEDGER"
  q "UPDATE entries SET body = json_set(body, '\$.worst_state', 'ok') WHERE kind = 'incident' AND target = 'sdb'"
  _out=$(sanwatch report verify --ledger "$LEDGER" 2>&1) && lab_fail "verify passed on a changed row"
  lab_log "verify after the edit: $_out"
  echo "$_out" | grep -q "incident sdb" || lab_fail "verify did not name the changed row: $_out"
}

# The ledger on a filesystem on the map it watches: loudly reported.
placement() {
  # ext4 asks the crypto API for crc32c at mount time: not a modules.dep dependency.
  lab_run "$LAB_CMD_TIMEOUT" modprobe crc32c_generic || lab_fail "modprobe crc32c_generic"
  lab_run "$LAB_CMD_TIMEOUT" modprobe ext4 || lab_fail "modprobe ext4 (mounts ext2 too)"
  mke2fs -q "/dev/$LAB_DM" >/dev/null 2>&1 || lab_fail "mke2fs on $LAB_DM"
  mkdir -p /mnt/onmap
  mount -t ext2 "/dev/$LAB_DM" /mnt/onmap ||
    lab_fail "mount $LAB_DM: $(ls -la "/dev/$LAB_DM" /mnt/onmap 2>&1) $(grep ext /proc/filesystems)"
  write_config /mnt/onmap/ledger.db
  _m=0  # lab_sanwatch_start truncates the event log
  lab_sanwatch_start
  lab_assert "placement reported" lab_wait_for 10 grep -q 'lives on map mpatha' "$LAB_EV"
  lab_run 10 wget -q -O /tmp/placement.prom "$LAB_METRICS_URL" || lab_fail "scrape $LAB_METRICS_URL"
  lab_log "ledger metrics: $(grep '^sanwatch_ledger' /tmp/placement.prom | tr '\n' ' ')"
  _v=$(grep '^sanwatch_ledger_on_watched_device ' /tmp/placement.prom | awk '{ print $2 }')
  lab_assert_eq "sanwatch_ledger_on_watched_device" 1 "$_v"
  lab_sanwatch_stop
  umount /mnt/onmap
}

lab_setup_mpath --queue-if-no-path
write_config "$LEDGER"
lab_sanwatch_start
path_failure
all_paths_down
lab_sanwatch_stop
check_incidents
placement
check_chain
