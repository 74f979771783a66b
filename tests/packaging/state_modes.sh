#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The modes of what the agent keeps in its state directory (called by
# package_test.sh while the installed agent runs and after it stopped): the
# evidence is group-readable, never world-readable and never someone else's.
# Every directory (the state directory included) must be DIR_MODE and every
# other file FILE_MODE, all owned by USER:GROUP, and FIRST_FILE must exist.
#
# usage: state_modes.sh DIR USER GROUP DIR_MODE FILE_MODE FIRST_FILE [LABEL]
# Exit status 0 and one line listing the files, or 1 naming the first wrong one.
set -euo pipefail

dir=$1 user=$2 group=$3 dir_mode=$4 file_mode=$5 first=$6 label=${7:-}
fail() { echo "FAIL: state_modes${label:+ ($label)}: $*"; exit 1; }

[[ -f $dir/$first ]] || fail "no $first in $dir: $(ls -la "$dir" 2>&1)"
seen=()
while IFS= read -r -d '' path; do
  read -r mode owner grp kind < <(stat -c '%a %U %G %F' "$path")
  want=$file_mode
  [[ -d $path ]] && want=$dir_mode
  [[ $kind == "directory" || $kind == "regular file" || $kind == "regular empty file" ]] ||
    fail "$path is a $kind"
  # stat's %a drops leading zeros.
  ((8#$mode == 8#$want)) || fail "$path has mode 0$mode, expected $want"
  [[ $owner == "$user" && $grp == "$group" ]] || fail "$path is $owner:$grp, expected $user:$group"
  seen+=("${path#"$dir"/}")
done < <(find "$dir" -print0)
echo "state_modes${label:+ ($label)}: $dir $dir_mode, files $file_mode, $user:$group:" \
  "${seen[*]:1}"
