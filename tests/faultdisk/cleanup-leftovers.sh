#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Removes what a crashed integration-test run left behind: loop devices backed
# by a sanwatch-faultdisk disk, the FUSE mounts, their daemons and temp dirs
# (/tmp/sanwatch-faultdisk.*). A disk whose owning test process (the pid in
# <tmpdir>/owner.pid) is still alive belongs to a running test and is left
# alone, unless --force is given.
#
# usage: cleanup-leftovers.sh [--force]
# Exit status: 0 when nothing is left, 1 when something could not be removed.

set -u
force=0
[ "${1:-}" = "--force" ] && force=1
status=0
did_something=0

say() { echo "cleanup-leftovers: $*"; }

# owner_alive <tmpdir>: true when the test process that created it still runs.
# A zombie, or a process with SIGKILL pending (stuck dying in I/O on its own
# loop device), counts as gone.
owner_alive() {
  [ "$force" = 1 ] && return 1
  pid=$(cat "$1/owner.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/status" ] || return 1
  awk '/^State:/ { if ($2 == "Z" || $2 == "X") dead = 1 }
       /^(SigPnd|ShdPnd):/ {
         # SIGKILL is bit 8: the lowest bit of the third hex digit from the right.
         if (index("13579bdfBDF", substr($2, length($2) - 2, 1))) dead = 1
       }
       END { exit dead }' "/proc/$pid/status"
}

faultdisk_mounts() {
  awk '$3 == "fuse.sanwatch-faultdisk" || $1 == "sanwatch-faultdisk" { print $2 }' /proc/mounts
}

# Fail all pending requests of the mount at $1 (needs fusectl).
abort_connection() {
  id=$(awk -v m="$1" '$5 == m { split($3, a, ":"); print a[2] }' /proc/self/mountinfo | tail -n 1)
  [ -n "$id" ] || return 1
  if [ ! -d "/sys/fs/fuse/connections/$id" ]; then
    mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
  fi
  [ -w "/sys/fs/fuse/connections/$id/abort" ] && echo 1 >"/sys/fs/fuse/connections/$id/abort"
}

# Stalled requests keep a loop device busy; lift all faults before detaching.
reset_faults() {
  [ -e "$1/ctl" ] && timeout 3 sh -c 'printf "reset\n" > "$1"' sh "$1/ctl" 2>/dev/null
}

detach_loops() {
  for backing_file in /sys/block/loop*/loop/backing_file; do
    [ -r "$backing_file" ] || continue
    backing=$(cat "$backing_file")
    case "$backing" in
      */sanwatch-faultdisk.*/mnt/disk) ;;
      *) continue ;;
    esac
    tmpdir=${backing%/mnt/disk}
    owner_alive "$tmpdir" && continue
    dev=/dev/$(basename "$(dirname "$(dirname "$backing_file")")")
    reset_faults "$tmpdir/mnt"
    did_something=1
    if timeout 5 losetup -d "$dev"; then
      if [ -e "$backing_file" ]; then
        say "$dev ($backing) is still open; set to detach on last close"
      else
        say "detached $dev ($backing)"
      fi
    else
      say "could not detach $dev ($backing)"
      status=1
    fi
  done
}

# Kills the daemon serving mountpoint $1 (matched by its exact argv, by pid).
kill_daemon() {
  for cmdline in /proc/[0-9]*/cmdline; do
    args=$(tr '\0' '\n' <"$cmdline" 2>/dev/null | head -n 2) || continue
    case "$args" in
      *sanwatch-faultdisk"
$1") kill -TERM "$(basename "$(dirname "$cmdline")")" 2>/dev/null ;;
    esac
  done
}

unmount_all() {
  for mnt in $(faultdisk_mounts); do
    owner_alive "$(dirname "$mnt")" && continue
    did_something=1
    reset_faults "$mnt"
    if ! timeout 3 fusermount3 -u -q "$mnt"; then
      abort_connection "$mnt"
      timeout 3 fusermount3 -u -z -q "$mnt" || umount -l "$mnt" 2>/dev/null
    fi
    if faultdisk_mounts | grep -qxF "$mnt"; then
      say "could not unmount $mnt"
      status=1
    else
      say "unmounted $mnt"
    fi
    kill_daemon "$mnt"
  done
}

remove_temp_dirs() {
  for dir in /tmp/sanwatch-faultdisk.*; do
    [ -d "$dir" ] || continue
    faultdisk_mounts | grep -qxF "$dir/mnt" && continue
    owner_alive "$dir" && continue
    did_something=1
    # rmdir, never rm -r: a missed mount must not be descended into.
    rm -f "$dir/daemon.log" "$dir/owner.pid"
    rmdir "$dir/mnt" 2>/dev/null
    if rmdir "$dir"; then say "removed $dir"; else status=1; fi
  done
}

if [ "$(id -u)" != 0 ]; then
  if [ -n "$(faultdisk_mounts)" ]; then
    say "sanwatch-faultdisk leftovers found but not root; run as root:"
    faultdisk_mounts
    exit 1
  fi
  say "not root and no faultdisk mounts; nothing to do"
  exit 0
fi

detach_loops
unmount_all
detach_loops  # devices whose detach waited for the unmount's aborted I/O
remove_temp_dirs
[ "$did_something" = 0 ] && say "nothing to clean"
exit "$status"
