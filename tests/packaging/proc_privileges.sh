#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a running process really holds, read from /proc (called by
# package_test.sh through notify_harness.py --check, while the installed agent
# runs under the unit's privileges, after start and after a SIGHUP reload):
#   - no capability outside the unit's CapabilityBoundingSet= in any set
#     (CapInh, CapPrm, CapEff, CapBnd, CapAmb) of any thread: capabilities
#     are per thread, and a thread started later (a reload's) could differ;
#   - NoNewPrivs 1 on every thread when the unit sets NoNewPrivileges=;
#   - the unit's user (real, effective, saved, fs) and groups on every thread.
#
# usage: proc_privileges.sh --bounding "CAP_A CAP_B" --nnp yes|no --user USER
#                           --group GROUP --groups "G1 G2" PID [LABEL]
# Exit status 0 and one summary line, or 1 with the thread and field at fault.
set -euo pipefail

bounding='' nnp='' user='' group='' groups=''
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --bounding) bounding=$2 ;;
    --nnp) nnp=$2 ;;
    --user) user=$2 ;;
    --group) group=$2 ;;
    --groups) groups=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
pid=${1:?usage: proc_privileges.sh --bounding CAPS --nnp yes|no --user U --group G --groups GS PID [LABEL]}
label=${2:-}
fail() { echo "FAIL: proc_privileges${label:+ ($label)}: $*"; exit 1; }

# Capability names by bit, as this kernel and util-linux know them.
mapfile -t cap_names < <(setpriv --list-caps)
((${#cap_names[@]} > 38)) || fail "setpriv --list-caps knows only ${#cap_names[@]} capabilities"
allowed=0
for c in $bounding; do
  name=$(tr '[:upper:]' '[:lower:]' <<<"${c#CAP_}") found=
  for i in "${!cap_names[@]}"; do
    [[ ${cap_names[i]} == "$name" ]] && { allowed=$((allowed | (1 << i))); found=1; }
  done
  [[ -n $found ]] || fail "unknown capability $c in the bounding set"
done
decode() {  # hex mask -> "bpf,perfmon" (or "-")
  local mask=$((16#$1)) i out=
  for i in "${!cap_names[@]}"; do ((mask >> i & 1)) && out+="${out:+,}${cap_names[i]}"; done
  echo "${out:--}"
}

uid=$(id -u "$user")
want_gids=$(
  {
    id -G "$user" | tr ' ' '\n'
    for g in $groups; do getent group "$g" | cut -d: -f3; done
  } | sort -un | paste -sd' '
)
want_gid=$(getent group "$group" | cut -d: -f3)

[[ -d /proc/$pid/task ]] || fail "no process $pid"
threads=0 summary=()
for status in /proc/"$pid"/task/*/status; do
  # A thread may end between the glob and the read: only the main one must be there.
  fields=$(cat "$status" 2>/dev/null) || { [[ $status != */task/$pid/status ]] && continue; fail "cannot read $status"; }
  tid=$(basename "$(dirname "$status")")
  name=$(awk -F'\t' '$1 == "Name:" { print $2 }' <<<"$fields")
  for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    hex=$(awk -v k="$set:" '$1 == k { print $2 }' <<<"$fields")
    [[ $hex =~ ^[0-9a-f]{16}$ ]] || fail "thread $tid ($name): no $set line"
    extra=$(((16#$hex) & ~allowed))
    ((extra == 0)) || fail "thread $tid ($name) holds $(decode "$(printf '%016x' "$extra")") in $set ($hex), outside CapabilityBoundingSet=$bounding"
    [[ $set == CapEff ]] && summary+=("$(decode "$hex")")
  done
  if [[ $nnp == yes || $nnp == true ]]; then
    [[ $(awk '$1 == "NoNewPrivs:" { print $2 }' <<<"$fields") == 1 ]] ||
      fail "thread $tid ($name): NoNewPrivs is not 1 although the unit sets NoNewPrivileges=$nnp"
  fi
  read -r _ ruid euid suid fsuid < <(grep '^Uid:' <<<"$fields")
  [[ "$ruid $euid $suid $fsuid" == "$uid $uid $uid $uid" ]] ||
    fail "thread $tid ($name): Uid $ruid $euid $suid $fsuid, not $user ($uid)"
  read -r _ rgid egid sgid fsgid < <(grep '^Gid:' <<<"$fields")
  [[ "$rgid $egid $sgid $fsgid" == "$want_gid $want_gid $want_gid $want_gid" ]] ||
    fail "thread $tid ($name): Gid $rgid $egid $sgid $fsgid, not $group ($want_gid)"
  have_gids=$(grep '^Groups:' <<<"$fields" | cut -f2 | tr ' ' '\n' | { grep . || true; } | sort -un | paste -sd' ')
  [[ $have_gids == "$want_gids" ]] || fail "thread $tid ($name): groups [$have_gids], not [$want_gids]"
  threads=$((threads + 1))
done
((threads > 0)) || fail "no thread of $pid read"
effective=$(printf '%s\n' "${summary[@]}" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? "; " : ""), $2, $1 }')
echo "proc_privileges${label:+ ($label)}: pid $pid, $threads threads within [$bounding]," \
  "NoNewPrivs ok, uid $uid gid $want_gid groups [$want_gids]; CapEff: $effective"
