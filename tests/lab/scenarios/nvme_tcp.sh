#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# Native NVMe/TCP multipath with ANA, one boot for every case:
#   nvmet subsystem (one namespace on /dev/ram0) on ports 1 (127.0.0.1:4420,
#   controller nvme0, path nvme0c0n1) and 2 (:4421, nvme1, nvme0c1n1), each
#   with its own state of the namespace's ANA group 1 (nvmet gives a
#   namespace one group; the state is per port); head nvme0n1, iopolicy
#   round-robin so both paths carry the canaries' reads.
#   0. discovery: both hidden paths watched with their dev_t, traced (their
#      requests counted), identity in `sanwatch paths` and /metrics
#   1. port 1's ANA group inaccessible -> nvme0c0n1 failed ("ana_state
#      inaccessible"), head degraded; optimized -> both ok; the kernel's own
#      steps timed (AEN traced, ana_state in sysfs) and no uevent asserted
#   2. port 2 unlinked -> nvme1 resetting/connecting, nvme0c1n1 failed
#      ("controller ..."); linked again -> reconnect, ok
#   3. both ports unlinked while a read runs -> head down, then stalled with
#      the canary's true age; linked again -> the queued read completes, ok
#   4. port 2's traffic delayed 50 ms (netem) -> nvme0c1n1 slow, nvme0c0n1 ok
# Prints LAB-METRIC lines with each detection lag (sanwatch's event mono_ns
# minus the CLOCK_MONOTONIC stamped just before the configfs change).
# Needs --bin sanwatch-labprobe and --bin /usr/sbin/tc (CMakeLists.txt).
# shellcheck source=/dev/null
. /lab/guest-lib.sh

readonly HEAD=nvme0n1 PA=nvme0c0n1 PB=nvme0c1n1
readonly PROM=/tmp/metrics.txt

write_config() {
  # The default 5 s rescan: ANA and controller changes must not wait for it.
  # Canaries (the head's only latency and stall source: it is bio-based)
  # every 200 ms, 150 ms deadline; slow = 30 ms per path request (a
  # reconnecting path's first reads took 21 ms under TCG).
  cat >"$LAB_SANWATCH_CONF" <<TOML
log_level = "debug"
[thresholds]
slow_io = "30ms"
slow_window = "2s"
stall = "2s"
recovery = "500ms"
flap_count = 20
[canary]
targets = "multipath"
period = "200ms"
deadline = "150ms"
[metrics]
listen = "127.0.0.1:0"
refresh = "250ms"
TOML
}

# lag_ms T0_LINE EVENT_LINE: event mono_ns - T0_NS, in ms.
lag_ms() {
  awk -v a="${1#T0_NS=}" -v b="$(lab_json_num "$2" mono_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'
}

# seen_lag MARK T0 PATH WHAT NAME: when the agent saw PATH change (its debug
# line "PATH: WHAT"), before any recovery hold, as LAB-METRIC NAME_ms.
seen_lag() {
  _l=$(tail -n +"$(($1 + 1))" "$LAB_EV" | grep "\"msg\":\"$3: $4" | head -n 1)
  [ -n "$_l" ] || lab_fail "$5: no '$3: $4' line"
  echo "LAB-METRIC ${5}_ms=$(lag_ms "$2" "$_l")"
}

# ev_since MARK T0 TARGET TO: the first state event TARGET -> TO after line
# MARK stamped at or after T0 (an older one written late is not it).
ev_since() {
  lab_ev_line_all "$1" "$3" "$4" | awk -v t0="${2#T0_NS=}" '
    match($0, /"mono_ns":[0-9]+/) && substr($0, RSTART + 10, RLENGTH - 10) + 0 >= t0 + 0 { print; exit }'
}
lab_ev_line_all() {
  tail -n +"$(($1 + 1))" "$LAB_EV" | grep '"event":"state"' | grep "\"target\":\"$2\"" | grep "\"to\":\"$3\""
}
ev_since_seen() { [ -n "$(ev_since "$@")" ]; }

# expect_lag MARK T0 TARGET TO SECONDS NAME [REASON]: event, its lag printed
# as LAB-METRIC NAME_ms, and REASON (a substring) checked when given.
expect_lag() {
  lab_wait_for "$5" ev_since_seen "$1" "$2" "$3" "$4" || {
    tail -n 30 "$LAB_EV"
    lab_fail "$6: no $3 -> $4 event"
  }
  _l=$(ev_since "$1" "$2" "$3" "$4")
  lab_log "$6: $_l"
  echo "LAB-METRIC ${6}_ms=$(lag_ms "$2" "$_l")"
  [ -z "${7:-}" ] || echo "$_l" | grep -q "$7" || lab_fail "$6: reason lacks '$7': $_l"
}

discovery() {
  lab_log "diskstats: $(grep nvme /proc/diskstats | awk '{ printf "%s=%s:%s ", $3, $1, $2 }')"
  lab_assert "no dev attribute on the hidden path" test ! -e "/sys/block/$PA/dev"
  # Hence no per-path canaries: a node for a path's number opens nothing.
  mknod /tmp/nvme-path-a b 259 0 || lab_fail "mknod 259:0"
  lab_assert "a node for $PA's number cannot be opened (ENXIO on 6.1)" \
    eval '! dd if=/tmp/nvme-path-a of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null'
  for _p in "$PA 259:0" "$PB 259:2"; do
    lab_assert_eq "${_p% *} watched with its number" "${_p#* }" \
      "$(grep "\"msg\":\"watching ${_p% *}\"" "$LAB_EV" | sed -n 's/.*"device":"\([^"]*\)".*/\1/p' | head -n 1)"
  done
  lab_dd_read "$HEAD" 40 >/dev/null || lab_fail "reads on $HEAD failed"
  sleep 1
  lab_scrape "$PROM"
  for _p in $PA $PB; do
    _n=$(lab_metric "$PROM" sanwatch_io_completed_total device="$_p")
    lab_log "$_p: $_n requests traced"
    lab_assert "$_p: its own requests are traced" [ "${_n%.*}" -gt 0 ]
  done
  lab_assert_eq "nvme path info" 1 "$(lab_metric "$PROM" sanwatch_nvme_path_info path=$PA controller=nvme0 transport=tcp ana_group=1 subsystem_nqn="$LAB_NVME_NQN")"
  lab_assert_eq "ANA state metric" 1 "$(lab_metric "$PROM" sanwatch_nvme_path_ana_state path=$PB state=optimized)"
  lab_assert_eq "head valid paths" 2 "$(lab_metric "$PROM" sanwatch_map_valid_paths map=$HEAD)"
  lab_run 20 sanwatch paths --json -i 0 --agent "$LAB_METRICS_URL" >/tmp/paths.json 2>/tmp/paths.err ||
    { cat /tmp/paths.err; lab_fail "sanwatch paths failed"; }
  lab_run 20 sanwatch paths -i 0 --agent "$LAB_METRICS_URL"
  lab_assert_eq "paths: $PB dev" "259:2" "$(lab_paths_field /tmp/paths.json path $PB dev)"
  lab_assert_eq "paths: $PB ANA" optimized "$(lab_paths_field /tmp/paths.json path $PB alua_state)"
  lab_assert_eq "paths: $PB controller" nvme1 "$(lab_paths_field /tmp/paths.json path $PB host)"
  # nvmet: a namespace has one ANA group (1) and each port its own state of it.
  lab_assert_eq "paths: $PB ANA group" 1 "$(lab_paths_field /tmp/paths.json path $PB ana_group)"
  lab_assert_eq "paths: $PB transport" tcp "$(lab_paths_field /tmp/paths.json path $PB nvme_transport)"
  lab_assert_eq "paths: $PB address" "traddr=127.0.0.1,trsvcid=4421" \
    "$(lab_paths_field /tmp/paths.json path $PB target_port)"
}

# ns_ms A B: (B - A) ns in ms.
ns_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

# ana_step STATE NAME: port 1's ANA state -> STATE, with the kernel's own
# steps timed: the AEN traced by sanwatch's BPF program and received by the
# agent, ana_state changed in sysfs (polled every 0.5 ms by labprobe).
# Sets _t0 and _m.
ana_step() {
  sanwatch-labprobe wait-file /sys/block/$PA/ana_state "$1" --timeout 5 >/tmp/ana_seen &
  _w=$!
  sleep 0.2  # the poller reads the old value first
  _m=$(lab_ev_mark)
  _t0=$(lab_nvme_ana_state 1 "$1")
  wait "$_w" || lab_fail "ana_state never read $1"
  _t0n=${_t0#T0_NS=}
  echo "LAB-METRIC ${2}_to_sysfs_ms=$(ns_ms "$_t0n" "$(sed -n 's/SEEN_NS=//p' /tmp/ana_seen)")"
  lab_wait_for 5 eval "tail -n +$((_m + 1)) \"$LAB_EV\" | grep -q '\"msg\":\"NVMe async event'" ||
    lab_fail "$2: no AEN traced"
  _aen=$(tail -n +"$((_m + 1))" "$LAB_EV" | grep '"msg":"NVMe async event' | head -n 1)
  echo "LAB-METRIC ${2}_to_aen_traced_ms=$(ns_ms "$_t0n" "$(lab_json_num "$_aen" traced_ns)")"
  echo "LAB-METRIC ${2}_to_aen_received_ms=$(ns_ms "$_t0n" "$(lab_json_num "$_aen" received_ns)")"
}

ana_change() {
  # A second uevent listener: the kernel sends none for ANA changes.
  sanwatch-labprobe uevents --all --timeout 30 >/tmp/uevents.txt 2>/dev/null &
  _ue=$!
  lab_wait_for 5 grep -q UEVENT-READY /tmp/uevents.txt || lab_fail "uevent listener not ready"
  ana_step inaccessible ana_inaccessible
  expect_lag "$_m" "$_t0" $PA failed 5 ana_inaccessible_to_path_failed "ana_state inaccessible"
  seen_lag "$_m" "$_t0" $PA "ana_state inaccessible" ana_inaccessible_to_path_unusable_seen
  tail -n +"$((_m + 1))" "$LAB_EV" | grep '"level":"debug"' | cut -c1-200
  expect_lag "$_m" "$_t0" $HEAD degraded 5 ana_inaccessible_to_head_degraded
  ana_step optimized ana_optimized
  seen_lag "$_m" "$_t0" $PA "usable again" ana_optimized_to_path_usable_seen
  # ok events wait for thresholds.recovery (500 ms) after the change is seen.
  expect_lag "$_m" "$_t0" $PA ok 5 ana_optimized_to_path_ok
  expect_lag "$_m" "$_t0" $HEAD ok 5 ana_optimized_to_head_ok
  kill "$_ue"
  wait "$_ue"
  cat /tmp/uevents.txt
  lab_assert_eq "uevents during two ANA changes" 0 "$(grep -c '^UEVENT ' /tmp/uevents.txt)"
}

port_down() {
  _m=$(lab_ev_mark)
  _t0=$(lab_nvme_port_down 2)
  expect_lag "$_m" "$_t0" $PB failed 5 port_down_to_path_failed "controller "
  expect_lag "$_m" "$_t0" $HEAD degraded 5 port_down_to_head_degraded
  lab_log "nvme1: $(lab_nvme_ctrl_state nvme1)"
  lab_ev_none "$_m" $PA failed "the other path stays up"
  _m=$(lab_ev_mark)
  _t0=$(lab_nvme_port_up 2)
  # The host reconnects at its next attempt (reconnect_delay 2 s).
  expect_lag "$_m" "$_t0" $PB ok 10 port_up_to_path_ok
  seen_lag "$_m" "$_t0" $PB "usable again" port_up_to_path_usable_seen
  lab_log "nvme1: $(lab_nvme_ctrl_state nvme1)"
}

both_down() {
  _m=$(lab_ev_mark)
  lab_nvme_port_down 1 >/dev/null
  _t0=$(lab_nvme_port_down 2)
  (dd if=/dev/$HEAD of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null) &
  _dd=$!
  expect_lag "$_m" "$_t0" $HEAD down 5 both_down_to_head_down
  expect_lag "$_m" "$_t0" $HEAD stalled 10 both_down_to_head_stalled
  _st=$(lab_ev_line "$_m" $HEAD stalled)
  echo "LAB-METRIC stalled_head_canary_age_s=$(lab_json_num "$_st" canary_overdue_s)"
  lab_log "head inflight meanwhile: $(cat /sys/block/$HEAD/inflight), paths: $(cat /sys/block/$PA/inflight) / $(cat /sys/block/$PB/inflight)"
  sleep 1
  lab_scrape "$PROM"
  _age=$(lab_metric "$PROM" sanwatch_canary_overdue_seconds target=$HEAD)
  _wall=$(awk -v a="${_t0#T0_NS=}" -v b="$(sanwatch-labprobe write /dev/null x | sed 's/T0_NS=//')" \
    'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  echo "LAB-METRIC stalled_head_scraped_age_s=$_age since_ports_down_s=$_wall"
  lab_assert "canary age >= stall threshold and <= time since the ports went" \
    awk -v a="$_age" -v w="$_wall" 'BEGIN { exit !(a >= 2 && a <= w + 0.3) }'
  _m=$(lab_ev_mark)
  _t0=$(lab_nvme_port_up 1)
  lab_nvme_port_up 2 >/dev/null
  lab_wait_for 10 eval "! kill -0 $_dd 2>/dev/null" || lab_fail "queued read did not complete"
  wait "$_dd" || lab_fail "the queued read failed"
  expect_lag "$_m" "$_t0" $HEAD ok 10 ports_up_to_head_ok
}

slow_path() {
  # Reconnected paths may have had a slow read: start from ok.
  lab_wait_for 10 eval 'lab_scrape "$PROM"; [ "$(lab_state "$PROM" $PB)" = ok ]' || lab_fail "$PB not ok"
  _m=$(lab_ev_mark)
  lab_nvme_port_delay_ms 2 50
  _t0=$(sanwatch-labprobe write /dev/null x)  # the delay is in place
  lab_dd_read "$HEAD" 20 >/dev/null || lab_fail "reads failed"
  expect_lag "$_m" "$_t0" $PB slow 10 port2_delay_to_path_slow "slower than 30ms"
  lab_ev_none "$_m" $PA slow "the other path stays ok"
  # The head is not asserted: its canaries alternate over both paths, and a
  # read over the delayed port can exceed the 150 ms deadline (TCP's delayed
  # ACKs meet netem too); say what it did.
  lab_log "head meanwhile: $(lab_ev_line "$_m" $HEAD slow | sed -n 's/.*"reason":"\([^"]*\)".*/slow: \1/p')"
  _m=$(lab_ev_mark)
  lab_nvme_port_delay_ms 2 0
  lab_ev_expect "$_m" $PB ok 10 "delay removed"
}

lab_setup_nvme_tcp
echo round-robin >/sys/class/nvme-subsystem/nvme-subsys0/iopolicy
write_config
lab_sanwatch_start
discovery
ana_change
port_down
both_down
slow_path
grep -c '"msg":"NVMe async event' "$LAB_EV" | sed 's/^/LAB-METRIC aen_events_seen=/'
grep '"level":"\(warn\|error\)"' "$LAB_EV" | cut -c1-300
lab_assert_eq "no error lines from sanwatch" 0 "$(grep -c '"level":"error"' "$LAB_EV")"
lab_sanwatch_stop
