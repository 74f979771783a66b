# Guest-side helpers for lab scenarios (busybox sh). Source it:
#   . /lab/guest-lib.sh
# Conventions: every helper that may block on a device is bounded with
# `timeout`; failures go through lab_fail, which exits the scenario non-zero
# (the init then prints LAB-RESULT: FAIL <rc>).
#
# Note on D state: a dd on a map with queue_if_no_path and no usable path
# sleeps uninterruptibly; `timeout` cannot kill it until the I/O completes.
# Run such I/O in the background (lab_bg) and end the stall by reinstating
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

# lab_bg_reads DEV: background loop of direct 4k reads (prints its pid);
# stop it with `kill PID`. Used to give tracers something to see.
lab_bg_reads() {
  (
    while :; do
      dd if="/dev/$1" of=/dev/null bs=4k count=256 iflag=direct 2>/dev/null || sleep 0.1
    done
  ) >/dev/null 2>&1 &
  echo $!
}

# ---- scsi_debug ------------------------------------------------------------

# lab_load_scsi_debug [PARAM=VALUE...]: two hosts, one LUN each, the same
# WWID (vpd_use_hostno=0): two paths to one 64 MiB disk -> sda, sdb.
lab_load_scsi_debug() {
  lab_run "$LAB_CMD_TIMEOUT" modprobe scsi_debug add_host=2 num_tgts=1 max_luns=1 \
    vpd_use_hostno=0 dev_size_mb=64 "$@" || lab_fail "modprobe scsi_debug failed"
  lab_wait_for 20 test -b /dev/sda -a -b /dev/sdb || lab_fail "sda/sdb did not appear"
  lab_log "scsi_debug paths: sda=$(lab_devno sda) sdb=$(lab_devno sdb), $(lab_sectors sda) sectors"
}

# lab_set_delay_ns N: scsi_debug's response delay for every path (0 = none).
lab_set_delay_ns() {
  echo "$1" >"$LAB_SCSI_DEBUG_SYSFS/ndelay" || lab_fail "cannot set ndelay=$1"
}

# ---- dm-multipath -------------------------------------------------------

# lab_mpath_table SECTORS SELECTOR FEATURES DEV...: one priority group,
# every DEV a path with repeat_count 1. FEATURES is "0" or e.g.
# "1 queue_if_no_path".
lab_mpath_table() {
  _sectors=$1 _selector=$2 _features=$3
  shift 3
  _paths=""
  for _p in "$@"; do _paths="$_paths $_p 1"; done
  echo "0 $_sectors multipath $_features 0 1 1 $_selector 0 $# 1$_paths"
}

# lab_setup_mpath [--queue-if-no-path] [--selector NAME]: scsi_debug with
# two paths, then map $LAB_MAP over them. Sets LAB_DM (dm-N), LAB_PATH_A,
# LAB_PATH_B (MAJ:MIN of sda, sdb).
lab_setup_mpath() {
  _features=0 _selector=round-robin
  while [ $# -gt 0 ]; do
    case $1 in
      --queue-if-no-path) _features="1 queue_if_no_path" ;;
      --selector) _selector=$2; shift ;;
      *) lab_fail "lab_setup_mpath: unknown option $1" ;;
    esac
    shift
  done
  lab_load_scsi_debug
  LAB_PATH_A=$(lab_devno sda)
  LAB_PATH_B=$(lab_devno sdb)
  _table=$(lab_mpath_table "$(lab_sectors sda)" "$_selector" "$_features" "$LAB_PATH_A" "$LAB_PATH_B")
  lab_log "dmsetup create $LAB_MAP: $_table"
  lab_run "$LAB_CMD_TIMEOUT" dmsetup create "$LAB_MAP" --table "$_table" ||
    lab_fail "dmsetup create $LAB_MAP failed"
  # With DM_DISABLE_UDEV libdevmapper makes /dev/mapper/$LAB_MAP itself;
  # mknodes is a no-op then and a repair otherwise. /dev/dm-N is devtmpfs'.
  lab_run "$LAB_CMD_TIMEOUT" dmsetup mknodes "$LAB_MAP" >/dev/null 2>&1 || true
  LAB_DM=$(lab_dm_kname "$LAB_MAP") || lab_fail "no dm-N for $LAB_MAP in sysfs"
  lab_wait_for 5 test -b "/dev/$LAB_DM" || lab_fail "/dev/$LAB_DM did not appear"
  lab_log "$LAB_MAP is $LAB_DM ($(lab_devno "$LAB_DM"))"
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
