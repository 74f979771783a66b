# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# Guest-side helpers for lab scenarios (busybox sh). Source it:
#   . /lab/guest-lib.sh
# Conventions: every helper that may block on a device is bounded with
# `timeout`; failures go through lab_fail, which exits the scenario non-zero
# (the init then prints LAB-RESULT: FAIL <rc>).
#
# Note on D state: a dd on a map with queue_if_no_path and no usable path
# sleeps uninterruptibly; `timeout` cannot kill it until the I/O completes.
# Run such I/O in the background (&) and end the stall by reinstating
# a path or with `dmsetup message MAP 0 fail_if_no_path`.

# No udev in the guest: libdevmapper must neither wait for udev cookies
# (dmsetup would hang) nor expect udev to create /dev/mapper nodes.
export DM_DISABLE_UDEV=1

LAB_MAP=${LAB_MAP:-mpatha}
LAB_SCSI_DEBUG_SYSFS=/sys/bus/pseudo/drivers/scsi_debug
LAB_CMD_TIMEOUT=${LAB_CMD_TIMEOUT:-15}

# ---- logging and assertions -------------------------------------------------

lab_uptime() { cut -d' ' -f1 /proc/uptime; }

lab_log() { echo "[lab $(lab_uptime)] $*"; }

lab_fail() {
  echo "[lab $(lab_uptime)] FAIL: $*"
  exit 1
}

# lab_assert DESCRIPTION COMMAND [ARGS...]: run COMMAND, fail the scenario
# with DESCRIPTION if it returns non-zero.
lab_assert() {
  _desc=$1
  shift
  if "$@"; then
    lab_log "ok: $_desc"
  else
    lab_fail "$_desc (command: $*)"
  fi
}

# lab_assert_eq DESCRIPTION EXPECTED ACTUAL
lab_assert_eq() {
  if [ "$2" = "$3" ]; then
    lab_log "ok: $1 ($3)"
  else
    lab_fail "$1: expected '$2', got '$3'"
  fi
}

# lab_run SECONDS COMMAND [ARGS...]: COMMAND bounded by a deadline (TERM,
# then KILL 2 s later). Returns COMMAND's status, 143/137 on deadline.
lab_run() {
  _secs=$1
  shift
  timeout -s TERM -k 2 "$_secs" "$@"
}

# lab_wait_for SECONDS COMMAND [ARGS...]: poll COMMAND every 0.1 s until it
# succeeds; returns 1 if it never did within SECONDS.
lab_wait_for() {
  _deadline=$(($1 * 10))
  shift
  _i=0
  while [ "$_i" -lt "$_deadline" ]; do
    "$@" && return 0
    sleep 0.1
    _i=$((_i + 1))
  done
  return 1
}

# ---- block devices ------------------------------------------------------------

# lab_devno sdb -> 8:16 (from sysfs: no assumption about majors).
lab_devno() { cat "/sys/block/$1/dev"; }

lab_sectors() { cat "/sys/block/$1/size"; }

# lab_dm_kname MAP -> dm-N, via /sys/block/dm-*/dm/name.
lab_dm_kname() {
  for _d in /sys/block/dm-*; do
    [ -r "$_d/dm/name" ] || continue
    if [ "$(cat "$_d/dm/name")" = "$1" ]; then
      basename "$_d"
      return 0
    fi
  done
  return 1
}

# lab_dd_read DEV COUNT [BS] [SKIP]: COUNT direct reads of BS (default 4k)
# from /dev/DEV, bounded. busybox dd supports iflag=direct.
lab_dd_read() {
  lab_run "$LAB_CMD_TIMEOUT" dd if="/dev/$1" of=/dev/null bs="${3:-4k}" count="$2" \
    skip="${4:-0}" iflag=direct 2>/dev/null
}

# lab_bg_reads_start DEV / lab_bg_reads_stop DEV: a background loop of
# direct 4k reads, to give tracers something to see. Call them directly,
# not in $(...): the loop must be a child of the scenario shell to be
# waited for. Stopping waits for the dd in flight, so no stray read lands
# after lab_bg_reads_stop returns (killing the loop would orphan its dd).
lab_bg_reads_start() {
  rm -f "/tmp/lab-bg-reads.$1.stop"
  (
    while [ ! -e "/tmp/lab-bg-reads.$1.stop" ]; do
      dd if="/dev/$1" of=/dev/null bs=4k count=32 iflag=direct 2>/dev/null || sleep 0.1
    done
  ) >/dev/null 2>&1 &
  echo $! >"/tmp/lab-bg-reads.$1.pid"
}

lab_bg_reads_stop() {
  touch "/tmp/lab-bg-reads.$1.stop"
  _pid=$(cat "/tmp/lab-bg-reads.$1.pid")
  # Bounded: a read stuck on a map with no path would never finish.
  lab_wait_for "$LAB_CMD_TIMEOUT" eval "! kill -0 $_pid 2>/dev/null" ||
    lab_fail "background reads on $1 did not stop"
  wait "$_pid" 2>/dev/null
  rm -f "/tmp/lab-bg-reads.$1.pid" "/tmp/lab-bg-reads.$1.stop"
}

# ---- scsi_debug ------------------------------------------------------------

# lab_load_scsi_debug [PARAM=VALUE...]: two hosts, one LUN each, the same
# WWID (vpd_use_hostno=0): two paths to one 64 MiB disk -> sda, sdb.
# delay=0: scsi_debug's default is 1 jiffy (4 ms at HZ=250) per command,
# which would hide every latency below 4 ms. PARAM=VALUE come last and win.
lab_load_scsi_debug() {
  lab_run "$LAB_CMD_TIMEOUT" modprobe scsi_debug add_host=2 num_tgts=1 max_luns=1 \
    vpd_use_hostno=0 dev_size_mb=64 delay=0 "$@" || lab_fail "modprobe scsi_debug failed"
  lab_wait_for 20 test -b /dev/sda -a -b /dev/sdb || lab_fail "sda/sdb did not appear"
  lab_log "scsi_debug paths: sda=$(lab_devno sda) sdb=$(lab_devno sdb), $(lab_sectors sda) sectors"
}

# lab_set_delay_ns N: scsi_debug's response delay for every path; 0 = none.
# (Writing ndelay=0 alone would fall back to the 1-jiffy default delay.)
# scsi_debug refuses changes (EBUSY) while commands are queued: retry.
lab_set_delay_ns() {
  if [ "$1" -gt 0 ]; then
    lab_wait_for 5 lab_write_sysfs "$LAB_SCSI_DEBUG_SYSFS/ndelay" "$1"
  else
    lab_wait_for 5 lab_write_sysfs "$LAB_SCSI_DEBUG_SYSFS/delay" 0
  fi || lab_fail "cannot set the scsi_debug delay to $1 ns"
}

lab_write_sysfs() { echo "$2" 2>/dev/null >"$1"; }

# ---- dm-multipath -------------------------------------------------------

# lab_mpath_table SECTORS SELECTOR FEATURES DEV...: one priority group,
# every DEV a path with repeat_count 1. FEATURES is "0" or e.g.
# "1 queue_if_no_path", "2 queue_mode bio".
lab_mpath_table() {
  _sectors=$1 _selector=$2 _features=$3
  shift 3
  _paths=""
  for _p in "$@"; do _paths="$_paths $_p 1"; done
  echo "0 $_sectors multipath $_features 0 1 1 $_selector 0 $# 1$_paths"
}

# lab_mpath_table_groups SECTORS SELECTOR FEATURES DEV...: one priority
# group per DEV, in order: all I/O goes to the first DEV until dm switches
# groups (switch_group, or the path fails).
lab_mpath_table_groups() {
  _sectors=$1 _selector=$2 _features=$3
  shift 3
  _groups=""
  for _p in "$@"; do _groups="$_groups $_selector 0 1 1 $_p 1"; done
  echo "0 $_sectors multipath $_features 0 $# 1$_groups"
}

# lab_dm_create NAME DMSETUP_CREATE_ARGS...: a dm device, bounded; sets
# LAB_KNAME to its dm-N (not printed: a lab_fail inside $(...) would only
# end the subshell, its message captured).
lab_dm_create() {
  lab_run "$LAB_CMD_TIMEOUT" dmsetup create "$@" || lab_fail "dmsetup create $1 failed"
  # With DM_DISABLE_UDEV libdevmapper makes /dev/mapper/NAME itself;
  # mknodes is a no-op then and a repair otherwise. /dev/dm-N is devtmpfs'.
  lab_run "$LAB_CMD_TIMEOUT" dmsetup mknodes "$1" >/dev/null 2>&1 || true
  LAB_KNAME=$(lab_dm_kname "$1") || lab_fail "no dm-N for $1 in sysfs"
  lab_wait_for 5 test -b "/dev/$LAB_KNAME" || lab_fail "/dev/$LAB_KNAME did not appear"
}

# lab_create_mpath TABLE: $LAB_MAP with TABLE and the uuid multipathd would
# give it (mpath-<wwid>, naa.X -> 3X): how sanwatch, like every other tool,
# tells a multipath map from other dm maps. Sets LAB_DM and LAB_WWID.
lab_create_mpath() {
  lab_log "dmsetup create $LAB_MAP: $1"
  _wwid=$(cat /sys/block/sda/device/wwid 2>/dev/null)
  LAB_WWID=3${_wwid#naa.}
  lab_dm_create "$LAB_MAP" --uuid "mpath-$LAB_WWID" --table "$1"
  LAB_DM=$LAB_KNAME
  lab_log "$LAB_MAP is $LAB_DM ($(lab_devno "$LAB_DM"))"
}

# lab_setup_mpath [--queue-if-no-path] [--selector NAME] [--group-per-path]
# [PARAM=VALUE...]: scsi_debug with two paths (PARAM=VALUE are extra
# scsi_debug parameters, e.g. every_nth=100 opts=4), then map $LAB_MAP
# over them; --group-per-path puts sda and sdb in priority groups 1 and 2.
# Sets LAB_DM (dm-N), LAB_PATH_A, LAB_PATH_B (MAJ:MIN of sda, sdb).
lab_setup_mpath() {
  _features=0 _selector=round-robin _sdparams="" _layout=lab_mpath_table
  while [ $# -gt 0 ]; do
    case $1 in
      --queue-if-no-path) _features="1 queue_if_no_path" ;;
      --selector) _selector=$2; shift ;;
      --group-per-path) _layout=lab_mpath_table_groups ;;
      *=*) _sdparams="$_sdparams $1" ;;
      *) lab_fail "lab_setup_mpath: unknown option $1" ;;
    esac
    shift
  done
  # shellcheck disable=SC2086 # one word per parameter
  lab_load_scsi_debug $_sdparams
  LAB_PATH_A=$(lab_devno sda)
  LAB_PATH_B=$(lab_devno sdb)
  lab_create_mpath "$($_layout "$(lab_sectors sda)" "$_selector" "$_features" "$LAB_PATH_A" "$LAB_PATH_B")"
}

# lab_setup_delayed_mpath [PARAM=VALUE...]: latency on one path only.
# scsi_debug's delays are global, so each SCSI disk gets a dm device on top
# -- dm-linear lab-a over sda, dm-delay lab-b over sdb (no delay yet, see
# lab_set_path_delay_ms) -- and $LAB_MAP runs over those two in
# queue_mode bio: request-based multipath refuses bio-based paths such as
# dm-delay. A bio-based map and dm paths have no block_rq_* tracepoints, so
# only canaries see latency there. scsi_dh_alua is removed in case a
# scenario loaded it (the facts file: I/O hangs in the ALUA handler then).
# Sets LAB_DM, LAB_STACK_A/B (dm-N of lab-a, lab-b) and LAB_PATH_A/B (their
# MAJ:MIN, as the map's table and status name them).
lab_setup_delayed_mpath() {
  lab_run "$LAB_CMD_TIMEOUT" modprobe -r scsi_dh_alua 2>/dev/null || true
  lab_load_scsi_debug "$@"
  _sectors=$(lab_sectors sda)
  lab_dm_create lab-a --table "0 $_sectors linear /dev/sda 0"
  LAB_STACK_A=$LAB_KNAME
  lab_dm_create lab-b --table "$(lab_delay_table "$_sectors" 0)"
  LAB_STACK_B=$LAB_KNAME
  LAB_PATH_A=$(lab_devno "$LAB_STACK_A")
  LAB_PATH_B=$(lab_devno "$LAB_STACK_B")
  lab_log "lab-a (linear over sda) is $LAB_STACK_A ($LAB_PATH_A), lab-b (delay over sdb) is $LAB_STACK_B ($LAB_PATH_B)"
  lab_create_mpath "$(lab_mpath_table "$_sectors" round-robin "2 queue_mode bio" "$LAB_PATH_A" "$LAB_PATH_B")"
}

lab_delay_table() { echo "0 $1 delay /dev/sdb 0 $2"; }

# lab_set_path_delay_ms MS: lab-b's delay (reads and writes) becomes MS.
# dm-delay has no message to change it: load a new table and resume, which
# first flushes the bios it is holding.
lab_set_path_delay_ms() {
  lab_run "$LAB_CMD_TIMEOUT" dmsetup reload lab-b --table "$(lab_delay_table "$(lab_sectors sdb)" "$1")" ||
    lab_fail "dmsetup reload lab-b failed"
  lab_run "$LAB_CMD_TIMEOUT" dmsetup resume lab-b || lab_fail "dmsetup resume lab-b failed"
  lab_log "lab-b ($LAB_STACK_B over sdb): $(lab_run "$LAB_CMD_TIMEOUT" dmsetup table lab-b)"
}

lab_mpath_status() { lab_run "$LAB_CMD_TIMEOUT" dmsetup status "${1:-$LAB_MAP}"; }

# lab_path_state MAJ:MIN [MAP] -> A or F: the word after the path in
# "... 8:0 A 0 8:16 F 1" (dmsetup status).
lab_path_state() {
  lab_mpath_status "${2:-$LAB_MAP}" |
    awk -v dev="$1" '{ for (i = 1; i < NF; i++) if ($i == dev) { print $(i + 1); exit } }'
}

# lab_wait_path_state MAJ:MIN STATE [SECONDS]
lab_wait_path_state() {
  lab_wait_for "${3:-10}" lab_path_has_state "$1" "$2"
}
lab_path_has_state() { [ "$(lab_path_state "$1")" = "$2" ]; }

# lab_path_offline sdX: the SCSI device refuses I/O. dm-multipath only
# notices when an I/O on that path fails (there is no multipathd checker).
lab_path_offline() {
  echo offline >"/sys/block/$1/device/state" || lab_fail "cannot offline $1"
  lab_log "$1 offline"
}

# lab_path_online sdX [MAP]: device running again, and the path reinstated
# in the map: without multipathd nothing else would do it.
lab_path_online() {
  echo running >"/sys/block/$1/device/state" || lab_fail "cannot online $1"
  lab_run "$LAB_CMD_TIMEOUT" dmsetup message "${2:-$LAB_MAP}" 0 "reinstate_path $(lab_devno "$1")" ||
    lab_fail "reinstate_path $1 failed"
  lab_log "$1 running, reinstated"
}

lab_teardown_mpath() {
  lab_run "$LAB_CMD_TIMEOUT" dmsetup remove "${1:-$LAB_MAP}" || lab_log "dmsetup remove ${1:-$LAB_MAP} failed"
}

# ---- sanwatch in the guest ---------------------------------------------

LAB_EV=${LAB_EV:-/tmp/sanwatch-events.jsonl}
LAB_SANWATCH_CONF=/tmp/sanwatch.toml

# lab_sanwatch_start: `sanwatch run --config $LAB_SANWATCH_CONF` (write it
# first; listen on 127.0.0.1:0) with its JSON log in $LAB_EV; waits for
# "ready". Sets LAB_SANWATCH_PID and LAB_METRICS_URL (from the ready line).
lab_sanwatch_start() {
  # Every scenario keeps a ledger (in the guest's RAM) unless it sets one.
  grep -q '^\[ledger\]' "$LAB_SANWATCH_CONF" ||
    printf '\n[ledger]\npath = "/tmp/sanwatch-ledger.db"\n' >>"$LAB_SANWATCH_CONF"
  sanwatch run --config "$LAB_SANWATCH_CONF" 2>"$LAB_EV" &
  LAB_SANWATCH_PID=$!
  lab_assert "sanwatch run is ready" lab_wait_for 60 grep -q '"msg":"ready"' "$LAB_EV"
  lab_log "$(grep '"msg":"ready"' "$LAB_EV")"
  LAB_METRICS_URL="http://$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$LAB_EV" | head -n 1)/metrics"
}

# lab_sanwatch_stop: SIGTERM, bounded wait, exit status 0 asserted.
lab_sanwatch_stop() {
  kill -TERM "$LAB_SANWATCH_PID"
  lab_wait_for 10 eval "! kill -0 $LAB_SANWATCH_PID 2>/dev/null" || lab_fail "sanwatch did not stop"
  wait "$LAB_SANWATCH_PID"
  lab_assert_eq "sanwatch exit status" 0 "$?"
}

# Events: lab_ev_mark -> lines so far; lab_ev_line MARK TARGET TO -> the
# first state event TARGET -> TO after line MARK (empty if none).
lab_ev_mark() { wc -l <"$LAB_EV"; }
lab_ev_line() {
  tail -n +"$(($1 + 1))" "$LAB_EV" | grep '"event":"state"' | grep "\"target\":\"$2\"" |
    grep "\"to\":\"$3\"" | head -n 1
}
lab_ev_seen() { [ -n "$(lab_ev_line "$@")" ]; }
# lab_ev_expect MARK TARGET TO SECONDS WHAT: wait for the event or fail
# (with the log's tail); logs the event line.
lab_ev_expect() {
  lab_wait_for "$4" lab_ev_seen "$1" "$2" "$3" || {
    tail -n 40 "$LAB_EV"
    lab_fail "$5: no $2 -> $3 event"
  }
  lab_log "$5: $(lab_ev_line "$1" "$2" "$3")"
}
# lab_ev_none MARK TARGET TO WHAT: no such event since MARK.
lab_ev_none() {
  _l=$(lab_ev_line "$1" "$2" "$3")
  [ -z "$_l" ] || lab_fail "$4: unexpected event $_l"
  lab_log "ok: $4 (no $2 -> $3 event)"
}
# lab_json_num LINE KEY: a number field of a one-line JSON object.
lab_json_num() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p"; }

# lab_scrape FILE: GET /metrics into FILE, bounded.
lab_scrape() {
  lab_run 10 wget -q -O "$1" "$LAB_METRICS_URL" || lab_fail "cannot scrape $LAB_METRICS_URL"
}
# lab_metric FILE NAME [LABEL=VALUE...]: the sum of NAME's series carrying
# every LABEL=VALUE (in any order; other labels ignored); 0 when none.
lab_metric() {
  _file=$1 _name=$2
  shift 2
  awk -v name="$_name" -v want="$*" '
    BEGIN { n = split(want, w, " ") }
    index($0, name "{") == 1 || $1 == name {
      for (i = 1; i <= n; i++) {
        eq = index(w[i], "=")
        if (index($0, substr(w[i], 1, eq - 1) "=\"" substr(w[i], eq + 1) "\"") == 0) next
      }
      s += $NF
    }
    END { print s + 0 }' "$_file"
}
# lab_state FILE TARGET -> its current state from sanwatch_state.
lab_state() {
  awk -v t="target=\"$2\"" 'index($0, "sanwatch_state{") == 1 && index($0, t) && $NF == 1 {
      sub(/.*state="/, ""); sub(/".*/, ""); print; exit }' "$1"
}

# lab_paths_field FILE KEY VALUE FIELD: in `sanwatch paths --json` output
# (pretty-printed, one key per line), FIELD of the first object after the
# line "KEY": "VALUE" -- e.g. `path dm-1 state` or `map mpatha state`.
lab_paths_field() {
  awk -v anchor="\"$2\": \"$3\"" -v field="\"$4\":" '
    index($0, anchor) { found = 1; next }
    found && $1 == field {
      v = substr($0, index($0, ": ") + 2); sub(/,$/, "", v); gsub(/"/, "", v); print v; exit }' "$1"
}

# ---- iSCSI + ALUA: LIO target, open-iscsi initiator, on loopback -------------
# One target IQN with two target portal groups (TPGT 1 on 127.0.0.1:3260,
# TPGT 2 on :3261), each exporting the same LAB_ISCSI_LUNS RAM-disk LUNs;
# in ALUA terms TPGT 1's ports are in target port group 1 and TPGT 2's in
# group 2 (LIO keeps ALUA groups per backstore, so every LUN has both). The
# initiator logs into both portals: two sessions, one path per LUN each.
# Needs run-lab.sh --deb open-iscsi --deb libopeniscsiusr --deb libisns0.

LAB_ISCSI_IQN=iqn.2024-12.io.sanwatch.lab:array
LAB_ISCSI_INITIATOR=iqn.2024-12.io.sanwatch.lab:host
LAB_ISCSI_LUNS=${LAB_ISCSI_LUNS:-2}
# iscsid's replacement_timeout: how long a session in recovery holds I/O
# before the SCSI devices go transport-offline and dm fails the paths.
LAB_ISCSI_REPLACEMENT_TIMEOUT=${LAB_ISCSI_REPLACEMENT_TIMEOUT:-3}
LAB_TARGET_CFG=/sys/kernel/config/target

lab_iscsi_tpg() { echo "$LAB_TARGET_CFG/iscsi/$LAB_ISCSI_IQN/tpgt_$1"; }

# lab_mono_ns: CLOCK_MONOTONIC in ns (sanwatch's mono_ns), from the kernel's
# timer list; busybox has no other way to read it finer than /proc/uptime.
lab_mono_ns() { awk '/^now at/ { print $3; exit }' /proc/timer_list; }

lab_modprobe() {
  for _mod in "$@"; do
    lab_run "$LAB_CMD_TIMEOUT" modprobe "$_mod" || lab_fail "modprobe $_mod failed"
  done
}

# The backstores: RAM disks with a unit serial each (without one LIO's VPD
# 0x83 has no NAA id: no wwid, scsi_dh_alua stays detached) and the two
# ALUA groups, implicit only (states change through configfs alone).
lab_iscsi_backstores() {
  lab_run "$LAB_CMD_TIMEOUT" modprobe brd rd_nr="$LAB_ISCSI_LUNS" rd_size=32768 || lab_fail "modprobe brd failed"
  _l=0
  while [ "$_l" -lt "$LAB_ISCSI_LUNS" ]; do
    _d=$LAB_TARGET_CFG/core/iblock_$_l/lab$_l
    mkdir -p "$_d" || lab_fail "cannot create backstore $_d"
    echo "udev_path=/dev/ram$_l" >"$_d/control"
    echo 1 >"$_d/enable"
    # The NAA id keeps only the first 25 hex digits: the LUN number goes first.
    echo "${_l}a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" >"$_d/wwn/vpd_unit_serial"
    for _g in 1 2; do
      mkdir "$_d/alua/tpg_$_g"
      echo "$_g" >"$_d/alua/tpg_$_g/tg_pt_gp_id"
      echo 1 >"$_d/alua/tpg_$_g/alua_access_type"
      echo $((_g - 1)) >"$_d/alua/tpg_$_g/alua_access_state"  # 1: A/O, 2: A/NO
    done
    _l=$((_l + 1))
  done
}

# lab_iscsi_portal TPGT PORT: the TPG, its LUNs (in ALUA group TPGT), its
# portal; no authentication, any initiator.
lab_iscsi_portal() {
  _t=$(lab_iscsi_tpg "$1")
  _l=0
  while [ "$_l" -lt "$LAB_ISCSI_LUNS" ]; do
    mkdir -p "$_t/lun/lun_$_l" || lab_fail "cannot create $_t/lun/lun_$_l"
    ln -s "$LAB_TARGET_CFG/core/iblock_$_l/lab$_l" "$_t/lun/lun_$_l/lab$_l"
    echo "tpg_$1" >"$_t/lun/lun_$_l/alua_tg_pt_gp"
    _l=$((_l + 1))
  done
  mkdir "$_t/np/127.0.0.1:$2" || lab_fail "cannot create portal 127.0.0.1:$2"
  echo 0 >"$_t/attrib/authentication"
  echo 1 >"$_t/attrib/generate_node_acls"
  echo 1 >"$_t/attrib/cache_dynamic_acls"
  echo 0 >"$_t/attrib/demo_mode_write_protect"
  echo 1 >"$_t/enable"
}

# iscsid in the foreground (no systemd), its config where iscsiadm looks.
lab_iscsi_initiator() {
  mkdir -p /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces /etc/iscsi/isns \
    /etc/iscsi/static /etc/iscsi/fw /run/lock/iscsi /var/lib/iscsi
  echo "InitiatorName=$LAB_ISCSI_INITIATOR" >/etc/iscsi/initiatorname.iscsi
  # startup /bin/true: iscsiadm would otherwise try to start iscsid via systemctl.
  cat >/etc/iscsi/iscsid.conf <<CONF
iscsid.startup = /bin/true
node.startup = manual
node.session.timeo.replacement_timeout = $LAB_ISCSI_REPLACEMENT_TIMEOUT
node.conn[0].timeo.noop_out_interval = 1
node.conn[0].timeo.noop_out_timeout = 2
node.session.initial_login_retry_max = 2
CONF
  LD_LIBRARY_PATH=/usr/local/bin iscsid -f >/tmp/iscsid.log 2>&1 &
}

lab_iscsiadm() { LD_LIBRARY_PATH=/usr/local/bin lab_run "$LAB_CMD_TIMEOUT" iscsiadm "$@"; }

# lab_iscsi_disk PORT LUN -> the sdX reached through the portal on PORT.
lab_iscsi_disk() {
  for _b in /sys/block/sd*; do
    [ -e "$_b/device" ] || continue
    _dev=$(readlink -f "$_b/device")
    [ "${_dev##*:}" = "$2" ] || continue
    _sid=$(echo "$_dev" | sed -n 's#.*/session\([0-9]*\)/.*#\1#p')
    [ -n "$_sid" ] || continue
    if [ "$(cat "/sys/class/iscsi_connection/connection$_sid:0/persistent_port" 2>/dev/null)" = "$1" ]; then
      basename "$_b"
      return 0
    fi
  done
  return 1
}

# lab_alua_prio sdX: multipathd's alua prioritizer (optimized 50,
# non-optimized 10, standby 1, anything else 0).
lab_alua_prio() {
  case $(cat "/sys/block/$1/device/access_state" 2>/dev/null) in
    active/optimized) echo 50 ;;
    active/non-optimized) echo 10 ;;
    standby) echo 1 ;;
    *) echo 0 ;;
  esac
}

# lab_alua_table SDX SDY: group_by_prio as multipathd builds it with the alua
# hardware handler: one group per priority, the higher first.
lab_alua_table() {
  _first=$1 _second=$2
  if [ "$(lab_alua_prio "$2")" -gt "$(lab_alua_prio "$1")" ]; then _first=$2 _second=$1; fi
  echo "0 $(lab_sectors "$1") multipath 0 1 alua 2 1 round-robin 0 1 1 $(lab_devno "$_first") 1 round-robin 0 1 1 $(lab_devno "$_second") 1"
}

# lab_setup_iscsi_alua: target, initiator, logins, and one map per LUN
# (mpatha, mpathb...) over its two paths with scsi_dh_alua attached.
# Sets LAB_PORTAL_1/2 (127.0.0.1:3260/3261), LAB_ISCSI_A<n>/LAB_ISCSI_B<n>
# (the sdX of LUN n through TPGT 1 / 2) and LAB_DM_<n> (the map's dm-N).
lab_setup_iscsi_alua() {
  # crc32c before any login (both ends allocate it), scsi_dh_alua before the
  # LUNs appear (it attaches when a disk is added).
  lab_modprobe crc32c_generic configfs scsi_dh_alua target_core_mod target_core_iblock \
    iscsi_target_mod iscsi_tcp
  mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config ||
    lab_fail "cannot mount configfs"
  lab_iscsi_backstores
  LAB_PORTAL_1=127.0.0.1:3260 LAB_PORTAL_2=127.0.0.1:3261
  lab_iscsi_portal 1 3260
  lab_iscsi_portal 2 3261
  lab_iscsi_initiator
  lab_wait_for 10 lab_iscsiadm -m discovery -t sendtargets -p "$LAB_PORTAL_1" >/tmp/iscsi-discovery.txt 2>&1 ||
    { cat /tmp/iscsid.log /tmp/iscsi-discovery.txt; lab_fail "iSCSI discovery failed"; }
  lab_log "discovered: $(tr '\n' ' ' </tmp/iscsi-discovery.txt)"
  lab_iscsiadm -m node -L all >/tmp/iscsi-login.txt 2>&1 ||
    { cat /tmp/iscsid.log /tmp/iscsi-login.txt; lab_fail "iSCSI login failed"; }
  lab_wait_for 20 eval "[ \$(ls -d /sys/block/sd* 2>/dev/null | wc -l) -ge $((2 * LAB_ISCSI_LUNS)) ]" ||
    lab_fail "iSCSI disks did not appear"
  _l=0
  while [ "$_l" -lt "$LAB_ISCSI_LUNS" ]; do
    _a=$(lab_iscsi_disk 3260 "$_l") || lab_fail "no disk for LUN $_l via 3260"
    _b=$(lab_iscsi_disk 3261 "$_l") || lab_fail "no disk for LUN $_l via 3261"
    lab_wait_for 10 test -r "/sys/block/$_a/device/access_state" -a -r "/sys/block/$_b/device/access_state" ||
      lab_fail "scsi_dh_alua not attached to $_a/$_b"
    eval "LAB_ISCSI_A$_l=$_a LAB_ISCSI_B$_l=$_b"
    _map=mpath$(echo "$_l" | tr 0-9 a-j)
    _wwid=$(cat "/sys/block/$_a/device/wwid")
    _table=$(lab_alua_table "$_a" "$_b")
    lab_log "LUN $_l: $_a ($(cat "/sys/block/$_a/device/access_state")) $_b ($(cat "/sys/block/$_b/device/access_state")), $_wwid; $_map: $_table"
    lab_dm_create "$_map" --uuid "mpath-3${_wwid#naa.}" --table "$_table"
    eval "LAB_DM_$_l=$LAB_KNAME"
    _l=$((_l + 1))
  done
  LAB_DM=$LAB_DM_0
}

lab_alua_state_code() {
  case $1 in
    active/optimized | optimized) echo 0 ;;
    active/non-optimized | non-optimized) echo 1 ;;
    standby) echo 2 ;;
    unavailable) echo 3 ;;
    *) lab_fail "unknown ALUA state $1" ;;
  esac
}

# lab_alua_set_state GROUP STATE: target port group GROUP (1 or 2) of every
# LUN to STATE (optimized, non-optimized, standby, unavailable), as an
# array controller failover does. The host learns it only from the next
# command through that group's ports (a unit attention).
lab_alua_set_state() {
  _code=$(lab_alua_state_code "$2")
  for _d in "$LAB_TARGET_CFG"/core/iblock_*/lab*; do
    echo "$_code" >"$_d/alua/tpg_$1/alua_access_state" || lab_fail "cannot set $_d group $1 to $2"
  done
  lab_log "ALUA group $1 -> $2"
}

# lab_iscsi_portal_down TPGT / lab_iscsi_portal_up TPGT: the target portal
# group stops / resumes answering (its sessions fail; iscsid retries the
# login every ~2 s and gets back in once it is up).
lab_iscsi_portal_down() {
  echo 0 >"$(lab_iscsi_tpg "$1")/enable" || lab_fail "cannot disable TPGT $1"
  lab_log "iSCSI TPGT $1 disabled"
}
lab_iscsi_portal_up() {
  echo 1 >"$(lab_iscsi_tpg "$1")/enable" || lab_fail "cannot enable TPGT $1"
  lab_log "iSCSI TPGT $1 enabled"
}

# lab_iscsi_session_state sdX -> LOGGED_IN, FAILED, FREE
lab_iscsi_session_state() {
  _sid=$(readlink -f "/sys/block/$1/device" | sed -n 's#.*/session\([0-9]*\)/.*#\1#p')
  cat "/sys/class/iscsi_session/session$_sid/state"
}

# lab_reinstate MAP sdX: what multipathd's checker does once the path works.
lab_reinstate() {
  lab_run "$LAB_CMD_TIMEOUT" dmsetup message "$1" 0 "reinstate_path $(lab_devno "$2")" ||
    lab_fail "reinstate_path $2 in $1 failed"
}

# Notices that are not state changes ({"event":"access_state"},
# {"event":"active_group"}): lab_notice_line MARK EVENT TARGET TO -> the
# first such line after line MARK ("to" a string or a number).
lab_notice_line() {
  tail -n +"$(($1 + 1))" "$LAB_EV" | grep "\"event\":\"$2\"" | grep "\"target\":\"$3\"" |
    grep -E "\"to\":(\"$4\"|$4[,}])" | head -n 1
}
lab_notice_seen() { [ -n "$(lab_notice_line "$@")" ]; }
# lab_notice_expect MARK EVENT TARGET TO SECONDS WHAT
lab_notice_expect() {
  lab_wait_for "$5" lab_notice_seen "$1" "$2" "$3" "$4" || {
    tail -n 40 "$LAB_EV"
    lab_fail "$6: no $2 event $3 -> $4"
  }
  lab_log "$6: $(lab_notice_line "$1" "$2" "$3" "$4")"
}
# lab_lag_ms LINE T0_NS [KEY]: from T0 (lab_mono_ns) to the line's mono_ns
# (or KEY, e.g. received_ns of a debug uevent line), in ms; "-" without it.
lab_lag_ms() {
  _b=$(lab_json_num "$1" "${3:-mono_ns}")
  if [ -z "$_b" ]; then echo -; return; fi
  awk -v a="$2" -v b="$_b" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'
}

# ---- NVMe/TCP native multipath ------------------------------------------

LAB_NVME_NQN=${LAB_NVME_NQN:-nqn.2024-12.io.sanwatch.lab:ana}
LAB_NVMET=/sys/kernel/config/nvmet

# lab_nvme_port_dir N: configfs directory of nvmet port N (1 = :4420, 2 = :4421).
lab_nvme_port_dir() { echo "$LAB_NVMET/ports/$1"; }

# lab_setup_nvme_tcp [BACKING...]: an nvmet subsystem $LAB_NVME_NQN with one
# namespace on /dev/ram0 (brd, 64 MiB), exported on nvmet-tcp ports 1
# (127.0.0.1:4420) and 2 (:4421), each with its own state of the
# namespace's ANA group 1 (ANA state is per port and group); the host connects to both with sanwatch-labprobe
# nvme-connect (reconnect_delay=2, ctrl_loss_tmo=30) -> one native multipath
# head, two hidden paths. BACKING, if given, replaces /dev/ram0 (one block
# device path). Sets LAB_NVME_HEAD (nvme0n1), LAB_NVME_PATH_A/B
# (nvme0c0n1, nvme0c1n1) and LAB_NVME_CTRL_A/B (nvme0, nvme1).
lab_setup_nvme_tcp() {
  _backing=${1:-/dev/ram0}
  [ "$_backing" != /dev/ram0 ] || [ -b /dev/ram0 ] ||
    lab_run "$LAB_CMD_TIMEOUT" modprobe brd rd_nr=1 rd_size=65536 || lab_fail "modprobe brd failed"
  for _m in configfs nvme_core nvme_fabrics nvme_tcp nvmet nvmet_tcp; do
    lab_run "$LAB_CMD_TIMEOUT" modprobe "$_m" || lab_fail "modprobe $_m failed"
  done
  grep -q '^Y' /sys/module/nvme_core/parameters/multipath 2>/dev/null || lab_fail "nvme_core multipath is off"
  mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config ||
    lab_fail "cannot mount configfs"
  _s=$LAB_NVMET/subsystems/$LAB_NVME_NQN
  mkdir "$_s" && echo 1 >"$_s/attr_allow_any_host" || lab_fail "cannot create nvmet subsystem"
  mkdir "$_s/namespaces/1" && echo "$_backing" >"$_s/namespaces/1/device_path" &&
    echo 1 >"$_s/namespaces/1/enable" || lab_fail "cannot enable nvmet namespace on $_backing"
  for _port in 1 2; do
    _p=$(lab_nvme_port_dir $_port)
    mkdir "$_p" && echo tcp >"$_p/addr_trtype" && echo ipv4 >"$_p/addr_adrfam" &&
      echo 127.0.0.1 >"$_p/addr_traddr" && echo $((4419 + _port)) >"$_p/addr_trsvcid" ||
      lab_fail "cannot configure nvmet port $_port"
    lab_nvme_port_up $_port
  done
  for _port in 1 2; do
    lab_run "$LAB_CMD_TIMEOUT" sanwatch-labprobe nvme-connect \
      "transport=tcp,traddr=127.0.0.1,trsvcid=$((4419 + _port)),nqn=$LAB_NVME_NQN,reconnect_delay=2,ctrl_loss_tmo=30" ||
      lab_fail "nvme connect to port $_port failed"
  done
  LAB_NVME_HEAD=nvme0n1 LAB_NVME_PATH_A=nvme0c0n1 LAB_NVME_PATH_B=nvme0c1n1
  LAB_NVME_CTRL_A=nvme0 LAB_NVME_CTRL_B=nvme1
  lab_wait_for 10 test -b "/dev/$LAB_NVME_HEAD" || lab_fail "no /dev/$LAB_NVME_HEAD"
  lab_wait_for 10 test -e "/sys/block/$LAB_NVME_PATH_B/ana_state" || lab_fail "no path $LAB_NVME_PATH_B"
  lab_log "nvme: $LAB_NVME_HEAD over $LAB_NVME_PATH_A ($(cat /sys/class/nvme/$LAB_NVME_CTRL_A/address)) and $LAB_NVME_PATH_B ($(cat /sys/class/nvme/$LAB_NVME_CTRL_B/address))"
}

# lab_nvme_port_down N / lab_nvme_port_up N: unlink / link the subsystem on
# port N (the last link gone closes the listener; the host's controller
# goes resetting, then connecting every reconnect_delay). Print T0_NS=<the
# CLOCK_MONOTONIC just before the syscall>, for lags.
lab_nvme_port_down() {
  sanwatch-labprobe unlink "$(lab_nvme_port_dir "$1")/subsystems/$LAB_NVME_NQN" ||
    lab_fail "cannot unlink port $1"
}
lab_nvme_port_up() {
  sanwatch-labprobe symlink "$LAB_NVMET/subsystems/$LAB_NVME_NQN" \
    "$(lab_nvme_port_dir "$1")/subsystems/$LAB_NVME_NQN" || lab_fail "cannot link port $1"
}

# lab_nvme_ana_state N STATE: port N's ANA group 1 -> STATE (optimized,
# non-optimized, inaccessible, persistent-loss, change); prints T0_NS=...
lab_nvme_ana_state() {
  sanwatch-labprobe write "$(lab_nvme_port_dir "$1")/ana_groups/1/ana_state" "$2" ||
    lab_fail "cannot set port $1 ANA state $2"
}

# lab_nvme_ctrl_state nvmeN: the host controller's state (live, connecting...).
lab_nvme_ctrl_state() { cat "/sys/class/nvme/$1/state"; }

# lab_nvme_port_delay_ms N MS: delay what nvmet port N sends (TCP source
# port 4419+N: read data, completions) by MS on lo (tc prio + netem + u32,
# needs iproute2's `tc` passed with --bin: busybox's tc, first in PATH, has
# no netem); MS 0 removes the qdisc. Only that path slows.
LAB_TC=/usr/local/bin/tc
lab_nvme_port_delay_ms() {
  lab_run "$LAB_CMD_TIMEOUT" "$LAB_TC" qdisc del dev lo root 2>/dev/null || true
  [ "$2" -gt 0 ] || { lab_log "lo: no delay"; return 0; }
  for _m in sch_prio sch_netem cls_u32; do lab_run "$LAB_CMD_TIMEOUT" modprobe "$_m" || lab_fail "modprobe $_m"; done
  # Every priority to band 1:1; only the filter's matches reach 1:4 (netem).
  lab_run "$LAB_CMD_TIMEOUT" "$LAB_TC" qdisc add dev lo root handle 1: prio bands 4 \
    priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 &&
    lab_run "$LAB_CMD_TIMEOUT" "$LAB_TC" qdisc add dev lo parent 1:4 handle 40: netem delay "$2ms" &&
    lab_run "$LAB_CMD_TIMEOUT" "$LAB_TC" filter add dev lo parent 1: protocol ip prio 1 u32 \
      match ip sport $((4419 + $1)) 0xffff flowid 1:4 || lab_fail "tc: cannot delay port $1"
  lab_log "lo: port $((4419 + $1)) delayed by $2 ms"
}
