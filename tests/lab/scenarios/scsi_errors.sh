#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# SCSI errors counted on the path that served the I/O:
#   mpatha over sda and sdb in two priority groups (one path each), so all
#   I/O goes through one known path; scsi_debug returns MEDIUM ERROR for
#   reads of sectors BAD_LBA.. on either path (opts=2, shared by both).
#   1. GOOD + BAD reads through the map while group 1 (sda) is active:
#      errors (status medium) on dm-N and sda, none on sdb; each dm request
#      counted once; mpatha `failed` (errors), while sda and sdb stay ok:
#      a medium error is the LUN's, not the path's (the kernel's
#      blk_path_error()), and dm keeps both paths active for the same reason
#   2. switch_group 2, the same reads: the new errors land on sdb
# Prints LAB-METRIC lines with the counts per device.
# shellcheck source=/dev/null
. /lab/guest-lib.sh

readonly GOOD=20 BAD=3
# The bad range starts 4 KiB-aligned and the bad reads start exactly there,
# so each request covers bad sectors only (no partial completion).
readonly BAD_LBA=4096 BAD_COUNT=8
readonly PROM=/tmp/metrics.txt

write_config() {
  # No canaries: their reads would land on the paths too and blur the
  # counts. Errors mark a target failed at once (fail_errors 1).
  cat >"$LAB_SANWATCH_CONF" <<TOML
log_level = "debug"
[devices]
rescan = "1s"
[thresholds]
fail_errors = 1
recovery = "2s"
[canary]
targets = "none"
[metrics]
listen = "127.0.0.1:0"
refresh = "250ms"
TOML
}

# reads: GOOD good 4 KiB reads, then BAD reads of the bad sectors, each of
# which must fail; all through the map.
reads() {
  lab_assert "$GOOD good reads through $LAB_MAP" lab_dd_read "$LAB_DM" "$GOOD"
  _i=0
  while [ "$_i" -lt "$BAD" ]; do
    if lab_run "$LAB_CMD_TIMEOUT" dd if="/dev/$LAB_DM" of=/dev/null bs=4k count=1 \
      skip=$((BAD_LBA / 8)) iflag=direct 2>/tmp/dd.err; then
      lab_fail "a read of sector $BAD_LBA succeeded"
    fi
    _i=$((_i + 1))
  done
  lab_log "$BAD reads of sector $BAD_LBA failed, as they should: $(head -n 1 /tmp/dd.err)"
  sleep 1  # metrics refresh 250 ms
  lab_scrape "$PROM"
}

errors() { lab_metric "$PROM" sanwatch_io_errors_total device="$1"; }
medium() { lab_metric "$PROM" sanwatch_io_errors_total device="$1" op=read status=medium; }
completed() { lab_metric "$PROM" sanwatch_io_completed_total device="$1" op=read; }

report() {
  grep -E '^sanwatch_io_(errors|completed)_total' "$PROM"
  echo "LAB-METRIC $1 $LAB_DM: completed=$(completed "$LAB_DM") medium=$(medium "$LAB_DM")" \
    "sda: completed=$(completed sda) medium=$(medium sda) sdb: completed=$(completed sdb) medium=$(medium sdb)"
}

# dm keeps both paths active: no path-failed uevent, no fail count.
dm_keeps_paths() {
  lab_log "status: $(lab_mpath_status)"
  lab_assert_eq "8:0 still active in dm" A "$(lab_path_state "$LAB_PATH_A")"
  lab_assert_eq "8:16 still active in dm" A "$(lab_path_state "$LAB_PATH_B")"
  lab_assert_eq "no PATH_FAILED uevent" 0 "$(grep -c '"msg":"uevent PATH_FAILED"' "$LAB_EV")"
}

group_1() {
  _m=$(lab_ev_mark)
  reads
  report "group 1 (sda):"
  lab_assert_eq "medium errors on $LAB_DM" "$BAD" "$(medium "$LAB_DM")"
  lab_assert_eq "medium errors on sda (serving)" "$BAD" "$(medium sda)"
  lab_assert_eq "errors on sdb (idle)" 0 "$(errors sdb)"
  lab_assert_eq "$LAB_DM reads counted once each" $((GOOD + BAD)) "$(completed "$LAB_DM")"
  lab_assert_eq "sda reads" $((GOOD + BAD)) "$(completed sda)"
  lab_assert_eq "sdb reads" 0 "$(completed sdb)"
  lab_ev_expect "$_m" "$LAB_MAP" failed 5 "errors on $LAB_MAP"
  lab_ev_none "$_m" sda failed "sda stays ok: a medium error is not a path error"
  lab_ev_none "$_m" sdb failed "sdb stays ok"
  dm_keeps_paths
  lab_run 20 sanwatch paths --json -i 0 --agent "$LAB_METRICS_URL" >/tmp/paths.json 2>/tmp/paths.err ||
    { cat /tmp/paths.err; lab_fail "sanwatch paths failed"; }
  lab_assert_eq "paths: sda ok (by sanwatch)" ok "$(lab_paths_field /tmp/paths.json path sda state)"
  lab_assert_eq "paths: sda active (by dm)" active "$(lab_paths_field /tmp/paths.json path sda dm_state)"
  lab_assert_eq "paths: sdb ok" ok "$(lab_paths_field /tmp/paths.json path sdb state)"
}

group_2() {
  lab_run "$LAB_CMD_TIMEOUT" dmsetup message "$LAB_MAP" 0 switch_group 2 || lab_fail "switch_group 2 failed"
  lab_log "switched to group 2; status: $(lab_mpath_status)"
  _m=$(lab_ev_mark)
  reads
  report "group 2 (sdb):"
  lab_assert_eq "medium errors on $LAB_DM" $((2 * BAD)) "$(medium "$LAB_DM")"
  lab_assert_eq "medium errors on sdb (serving now)" "$BAD" "$(medium sdb)"
  lab_assert_eq "medium errors on sda (unchanged)" "$BAD" "$(medium sda)"
  lab_assert_eq "$LAB_DM reads counted once each" $((2 * (GOOD + BAD))) "$(completed "$LAB_DM")"
  lab_assert_eq "sdb reads" $((GOOD + BAD)) "$(completed sdb)"
  lab_assert_eq "sda reads (unchanged)" $((GOOD + BAD)) "$(completed sda)"
  lab_ev_none "$_m" sdb failed "sdb stays ok after its medium errors"
  dm_keeps_paths
}

lab_setup_mpath --group-per-path opts=2 medium_error_start=$BAD_LBA medium_error_count=$BAD_COUNT
lab_log "table:  $(lab_run 10 dmsetup table "$LAB_MAP")"
write_config
lab_sanwatch_start
group_1
group_2
lab_log "kernel: $(dmesg | grep -c -i 'medium error') medium error lines; last:"
dmesg | grep -i -A2 'medium error' | tail -n 6
lab_sanwatch_stop
