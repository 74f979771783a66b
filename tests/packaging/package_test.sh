#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package, end to end, as root:
#   build the .deb with cpack (and a version-bumped one), dpkg -i it, check the
#   files, the conffile, the user and the generated Depends, verify the
#   installed unit, run the INSTALLED binary with exactly the unit's User=,
#   groups and capabilities (read from the installed unit file) against a
#   loop device under a fake systemd (tests/packaging/notify_harness.py:
#   NOTIFY_SOCKET, WATCHDOG_USEC), show that one capability or group fewer
#   breaks it, upgrade (reinstall + version bump, with a locally modified
#   conffile), remove and purge, and check that nothing is left.
#   Least privilege, rechecked on the running agent: no thread holds a
#   capability outside CapabilityBoundingSet= (also after a reload,
#   proc_privileges.sh), the state directory is 0750 and the ledger files
#   0640 sanwatch:sanwatch (state_modes.sh) and readable by group sanwatch
#   without root, exec hooks get no capabilities and a clean environment,
#   and systemd-analyze security stays at or below max_exposure.
#
# usage: package_test.sh --build-dir DIR --source-dir DIR [--python PY]
#                        [--cmake CMAKE] [--cpack CPACK]
#
# Gate (same semantics as tests/support/privileged.cpp): without root, kernel
# BTF or /dev/loop-control it skips with exit 77, or fails when
# SANWATCH_REQUIRE_PRIVILEGED_TESTS=1.
#
# It refuses to touch a sanwatch package it did not install (a real
# installation on a developer machine). Everything it creates is removed on
# exit, also on failure: loop device, image, package, user, temp dir.
set -euo pipefail

build_dir='' source_dir='' python=python3 cmake=cmake cpack=cpack
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --source-dir) source_dir=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --cmake) cmake=$2; shift 2 ;;
    --cpack) cpack=$2; shift 2 ;;
    *) echo "usage: $0 --build-dir DIR --source-dir DIR [--python PY] [--cmake C] [--cpack C]" >&2
       exit 2 ;;
  esac
done
[[ -n $build_dir && -n $source_dir ]] || { echo "--build-dir and --source-dir are required" >&2; exit 2; }
harness=$source_dir/tests/packaging/notify_harness.py

say() { echo "[package_test $(date +%T)] $*"; }
fail() { echo "FAIL: $*"; exit 1; }

# --- gate ---------------------------------------------------------------
missing=
if [[ $(id -u) -ne 0 ]]; then missing="root (effective uid is not 0)"
elif [[ ! -r /sys/kernel/btf/vmlinux ]]; then missing="kernel BTF (/sys/kernel/btf/vmlinux)"
elif [[ ! -w /dev/loop-control ]]; then missing="/dev/loop-control"
fi
if [[ -n $missing ]]; then
  if [[ ${SANWATCH_REQUIRE_PRIVILEGED_TESTS:-} == 1 ]]; then
    echo "FAIL: the packaging test needs $missing, and SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 forbids skipping"
    exit 1
  fi
  echo "SKIP: the packaging test needs $missing"
  exit 77
fi
for tool in dpkg dpkg-deb dpkg-shlibdeps setpriv losetup systemd-analyze adduser "$python"; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found: run packaging/install-deps.sh (dpkg-dev, util-linux, systemd, adduser, python3)"
done

# A package or user this test did not create is someone's real installation.
marker=/run/sanwatch-packaging-test.owner
installed_state() { dpkg-query -W -f='${db:Status-Status}' sanwatch 2>/dev/null || true; }
if [[ -n $(installed_state) && $(installed_state) != not-installed ]]; then
  if [[ -e $marker ]]; then
    say "purging a sanwatch package left by a previous run of this test"
    dpkg --purge sanwatch >/dev/null
  else
    fail "a sanwatch package is installed on this host (state $(installed_state)) and was not installed by this test; it would be replaced and purged: remove it first"
  fi
fi
if getent passwd sanwatch >/dev/null && [[ ! -e $marker ]]; then
  fail "a user \"sanwatch\" exists without the package; the purge check would remove it: remove it first"
fi

# --- cleanup, on every exit ----------------------------------------------
work=$(mktemp -d /tmp/sanwatch-pkgtest.XXXXXX)
chmod 755 "$work"  # the agent runs as user sanwatch and reads its config here
loopdev='' loopnode='' image=/dev/shm/sanwatch-pkgtest.$$.img loop_mode='' loop_group=''
cleanup() {
  local rc=$?
  set +e
  # The node outlives the loop device: give it back its mode and group.
  [[ -n $loopnode && -n $loop_mode ]] && chmod "$loop_mode" "$loopnode" && chgrp "$loop_group" "$loopnode"
  [[ -n $loopdev ]] && losetup -d "$loopdev"
  if [[ -n ${hook_agent:-} ]]; then
    kill -KILL "$hook_agent" 2>/dev/null
    wait "$hook_agent" 2>/dev/null
  fi
  rm -f "$image"
  if [[ -e $marker ]]; then
    if [[ -n $(installed_state) && $(installed_state) != not-installed ]]; then
      dpkg --purge sanwatch >/dev/null 2>&1
    fi
    getent passwd sanwatch >/dev/null && userdel sanwatch
    getent group sanwatch >/dev/null && groupdel sanwatch
    rm -f "$marker"
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build the packages --------------------------------------------------
say "building the sanwatch target"
"$cmake" --build "$build_dir" --target sanwatch >/dev/null ||
  fail "cmake --build $build_dir --target sanwatch failed"
[[ -f $build_dir/CPackConfig.cmake ]] ||
  fail "$build_dir/CPackConfig.cmake missing: is include(Packaging) in CMakeLists.txt?"
version=$(awk -F'"' '/^set\(CPACK_PACKAGE_VERSION /{print $2}' "$build_dir/CPackConfig.cmake")
arch=$(dpkg --print-architecture)
say "cpack -G DEB (version $version)"
(cd "$work" && "$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/v1" >"$work/cpack1.log" 2>&1) ||
  { cat "$work/cpack1.log"; fail "cpack failed"; }
deb1=$work/v1/sanwatch_${version}_${arch}.deb
[[ -f $deb1 ]] || { ls -l "$work/v1"; fail "cpack did not produce sanwatch_${version}_${arch}.deb"; }
version2=${version}+pkgtest1
(cd "$work" && "$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/v2" \
   -D "CPACK_PACKAGE_VERSION=$version2" >"$work/cpack2.log" 2>&1) ||
  { cat "$work/cpack2.log"; fail "cpack (version bump) failed"; }
deb2=$work/v2/sanwatch_${version2}_${arch}.deb
[[ -f $deb2 ]] || { ls -l "$work/v2"; fail "cpack did not produce $deb2"; }

depends=$(dpkg-deb -f "$deb1" Depends)
say "Depends: $depends"
for d in libc6 libbpf1 liburing2 libsystemd0 adduser procps; do
  [[ $depends == *"$d"* ]] || fail "Depends lacks $d (is CPACK_DEBIAN_PACKAGE_SHLIBDEPS working?)"
done

# --- install ------------------------------------------------------------------
touch "$marker"
say "dpkg -i $(basename "$deb1")"
dpkg -i "$deb1" </dev/null >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
[[ $(installed_state) == installed ]] || fail "package state after dpkg -i: $(installed_state)"

expect_files=(/usr/bin/sanwatch /lib/systemd/system/sanwatch.service /etc/sanwatch/sanwatch.toml
              /lib/udev/rules.d/60-sanwatch.rules /usr/share/man/man8/sanwatch.8.gz
              /usr/share/doc/sanwatch/copyright /usr/share/doc/sanwatch/changelog.gz
              /usr/share/lintian/overrides/sanwatch)
[[ -f $source_dir/packaging/prometheus/sanwatch.rules.yml ]] &&
  expect_files+=(/usr/share/sanwatch/prometheus/sanwatch.rules.yml)
[[ -f $source_dir/packaging/grafana/sanwatch-dashboard.json ]] &&
  expect_files+=(/usr/share/sanwatch/grafana/sanwatch-dashboard.json)
[[ -f $source_dir/docs/operations.md ]] && expect_files+=(/usr/share/doc/sanwatch/operations.md)
for f in "${expect_files[@]}"; do
  [[ -f $f ]] || fail "$f not installed"
  dpkg -S "$f" >/dev/null 2>&1 || fail "$f is not owned by the package"
done
# Nothing else: an install() rule added anywhere in the tree lands in the .deb.
extra=()
while read -r f; do
  [[ -f $f ]] || continue
  [[ " ${expect_files[*]} " == *" $f "* ]] || extra+=("$f")
done < <(dpkg-query -L sanwatch)
((${#extra[@]} == 0)) || fail "unexpected files in the package: ${extra[*]} (an install() rule? update cmake/Packaging.cmake and this test)"
[[ -x /usr/bin/sanwatch ]] || fail "/usr/bin/sanwatch not executable"
cmp -s /etc/sanwatch/sanwatch.toml "$source_dir/packaging/sanwatch.toml" ||
  fail "/etc/sanwatch/sanwatch.toml differs from packaging/sanwatch.toml"
dpkg-query -W -f='${Conffiles}\n' sanwatch | grep -q '^ /etc/sanwatch/sanwatch.toml [0-9a-f]\{32\}$' ||
  fail "/etc/sanwatch/sanwatch.toml is not a registered conffile: $(dpkg-query -W -f='${Conffiles}' sanwatch)"
if file_out=$(command -v file >/dev/null && file -b /usr/bin/sanwatch); then
  [[ $file_out != *"not stripped"* ]] || fail "/usr/bin/sanwatch is not stripped"
fi
/usr/bin/sanwatch --version | grep -qF "$version" || fail "sanwatch --version does not say $version"
/usr/bin/sanwatch check-config /etc/sanwatch/sanwatch.toml >/dev/null ||
  fail "the installed config does not validate"
zcat /usr/share/man/man8/sanwatch.8.gz | grep -q '^\.TH SANWATCH 8' || fail "man page is not roff"
cmp -s /usr/share/doc/sanwatch/copyright "$source_dir/packaging/debian/copyright" ||
  fail "/usr/share/doc/sanwatch/copyright differs from packaging/debian/copyright"
zcat /usr/share/doc/sanwatch/changelog.gz | cmp -s - "$source_dir/packaging/debian/changelog" ||
  fail "/usr/share/doc/sanwatch/changelog.gz is not packaging/debian/changelog"
if command -v man >/dev/null; then
  man -l /usr/share/man/man8/sanwatch.8.gz 2>&1 >/dev/null | grep . && fail "man page has warnings"
fi

pw=$(getent passwd sanwatch) || fail "postinst did not create user sanwatch"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
((uid < 1000)) || fail "sanwatch is not a system user (uid $uid)"
[[ $(getent group sanwatch | cut -d: -f3) == "$gid" ]] || fail "sanwatch's primary group is not sanwatch"
[[ $shell == */nologin ]] || fail "sanwatch has login shell $shell"
[[ ! -e $home ]] || fail "sanwatch's home $home exists"
[[ -L /etc/systemd/system/multi-user.target.wants/sanwatch.service ]] ||
  fail "postinst did not enable the unit (no multi-user.target.wants symlink)"
say "installed: files, conffile, user $uid:$gid, unit enabled"

# --- the unit ---------------------------------------------------------------
unit=/lib/systemd/system/sanwatch.service
man_opt=--man=yes
command -v man >/dev/null || man_opt=--man=no
verify_out=$(systemd-analyze verify "$man_opt" "$unit" 2>&1) || true
# A container without systemd as PID 1 gives messages about the host (cgroups,
# other units); only messages about our unit count.
own=$(grep -E '(^|/)sanwatch\.service[:]' <<<"$verify_out" || true)
[[ -z $own ]] || { echo "$verify_out"; fail "systemd-analyze verify: $own"; }
say "systemd-analyze verify: clean for sanwatch.service"
# The exposure may only go down: lower max_exposure with the unit, never raise
# it to make a change pass (docs/operations.md, "Sandbox and exposure").
max_exposure=2.1
security=$(systemd-analyze security --offline=yes "$unit" 2>&1) ||
  { echo "$security"; fail "systemd-analyze security --offline=yes $unit failed"; }
exposure=$(grep -oE 'Overall exposure level for sanwatch\.service: [0-9]+(\.[0-9]+)?' <<<"$security" |
  awk '{ print $NF }')
[[ -n $exposure ]] || { echo "$security"; fail "no \"Overall exposure level\" line from systemd-analyze security"; }
if ! awk -v e="$exposure" -v max="$max_exposure" 'BEGIN { exit !(e + 0 <= max + 0) }'; then
  echo "$security"
  fail "systemd-analyze security: exposure $exposure for sanwatch.service, above $max_exposure"
fi
say "systemd-analyze security: exposure $exposure (at most $max_exposure)"

# Read what the unit grants: the last assignment wins, an empty one resets.
unit_value() {
  awk -v key="$1" -F= '
    /^[[:space:]]*[#;]/ { next }
    $1 == key { v = substr($0, length(key) + 2); if (v == "") acc = ""; else acc = (acc == "" ? v : acc " " v) }
    END { print acc }' "$unit"
}
unit_user=$(unit_value User)
unit_group=$(unit_value Group)
unit_groups=$(unit_value SupplementaryGroups)
unit_bounding=$(unit_value CapabilityBoundingSet)
unit_ambient=$(unit_value AmbientCapabilities)
unit_nnp=$(unit_value NoNewPrivileges)
unit_umask=$(unit_value UMask)
unit_umask=${unit_umask:-0022}  # systemd's default
[[ -n $unit_user && -n $unit_bounding ]] || fail "unit has no User= or CapabilityBoundingSet="
say "unit: User=$unit_user Group=$unit_group SupplementaryGroups=$unit_groups"
say "unit: CapabilityBoundingSet=$unit_bounding AmbientCapabilities=$unit_ambient UMask=$unit_umask"

# $work/as-unit USER GROUP NNP UMASK BOUNDING AMBIENT GROUPS -- COMMAND...: exec COMMAND as the
# unit's user with systemd's semantics: groups = initgroups(User=) plus
# SupplementaryGroups=, inheritable = ambient = AmbientCapabilities=,
# NoNewPrivileges= and UMask=. exec all the way down, so the harness sees the
# agent's pid.
cat >"$work/as-unit" <<'EOF_AS_UNIT'
#!/usr/bin/env bash
set -euo pipefail
user=$1 group=$2 nnp=$3 mask=$4 bounding=$5 ambient=$6 groups=$7
shift 8
umask "$mask"
caps() {  # "CAP_SYS_ADMIN CAP_BPF" -> -all,+sys_admin,+bpf
  local out=-all c
  for c in $1; do out+=",+$(tr '[:upper:]' '[:lower:]' <<<"${c#CAP_}")"; done
  echo "$out"
}
gids=$(id -G "$user" | tr ' ' '\n')
for g in $groups; do gids+=$'\n'$(getent group "$g" | cut -d: -f3); done
opts=()
[[ $nnp == yes || $nnp == true ]] && opts+=(--no-new-privs)
exec setpriv --reuid="$user" --regid="$group" --groups="$(sort -un <<<"$gids" | paste -sd,)" \
  --bounding-set="$(caps "$bounding")" --inh-caps="$(caps "$ambient")" \
  --ambient-caps="$(caps "$ambient")" "${opts[@]}" "$@"
EOF_AS_UNIT
chmod 755 "$work/as-unit"
# as_unit BOUNDING AMBIENT GROUPS -- COMMAND...
as_unit() { "$work/as-unit" "$unit_user" "${unit_group:-$unit_user}" "$unit_nnp" "$unit_umask" "$@"; }
without() {  # without "LIST" CAP... : LIST minus the named entries
  local list=$1 c out=
  shift
  for c in $list; do [[ " $* " == *" $c "* ]] || out+="$c "; done
  echo "${out% }"
}

as_unit "$unit_bounding" "$unit_ambient" "$unit_groups" -- \
  /usr/bin/sanwatch check-config /etc/sanwatch/sanwatch.toml >/dev/null ||
  fail "user $unit_user cannot read /etc/sanwatch/sanwatch.toml"

# --- run the installed agent with the unit's privileges -----------------------
truncate -s 64M "$image"
loopdev=$(losetup --find --show "$image")
loopnode=$loopdev
loopname=$(basename "$loopdev")
# udev (50-udev-default.rules) makes block devices root:disk 0660; a container
# without udev leaves them root:root 0600. Do what udev does (undone on exit).
loop_mode=$(stat -c %a "$loopdev") loop_group=$(stat -c %G "$loopdev")
chgrp disk "$loopdev" && chmod 0660 "$loopdev"
cat >"$work/sanwatch.toml" <<EOF
[devices]
include = ["$loopname"]
rescan = "1s"
[canary]
targets = "all"
period = "200ms"
[metrics]
listen = "127.0.0.1:0"
refresh = "200ms"
[ledger]
path = "$work/state/ledger.db"
EOF
chmod 644 "$work/sanwatch.toml"
# StateDirectory=sanwatch as systemd makes it: owned by the unit's user, with
# StateDirectoryMode= (here under $work, so the host's /var/lib stays untouched).
[[ $(unit_value StateDirectory) == sanwatch ]] || fail "the unit has no StateDirectory=sanwatch"
state_mode=$(unit_value StateDirectoryMode)
install -d -m "${state_mode:-0755}" -o "$unit_user" -g "${unit_group:-$unit_user}" "$work/state"
agent=(/usr/bin/sanwatch run --config "$work/sanwatch.toml")

# Evidence for group sanwatch, not for the world (issue 15 §5): operators in
# the group run `sanwatch report` without root, anyone else reads nothing.
# reader_verify yes|no: `report verify` as uid 65534 with or without group
# sanwatch (exit status of sanwatch).
sanwatch_gid=$(getent group "${unit_group:-$unit_user}" | cut -d: -f3)
reader_verify() {
  local grp_opts=(--clear-groups)
  [[ $1 == yes ]] && grp_opts=(--groups "$sanwatch_gid")
  setpriv --reuid=65534 --regid=65534 "${grp_opts[@]}" -- \
    /usr/bin/sanwatch report verify --ledger "$work/state/ledger.db"
}
# Run by the harness (PID PHASE) after start and after the reload: what the
# live agent's threads hold, the modes of what it has written so far, and a
# group member's read beside the running writer.
cat >"$work/while-running" <<EOF_WHILE_RUNNING
#!/usr/bin/env bash
set -euo pipefail
bash "$source_dir/tests/packaging/proc_privileges.sh" --bounding "$unit_bounding" \
  --nnp "$unit_nnp" --user "$unit_user" --group "${unit_group:-$unit_user}" \
  --groups "$unit_groups" "\$1" "\$2"
# The ledger writer's thread may still be creating the file and its schema.
for i in \$(seq 50); do
  out=\$(setpriv --reuid=65534 --regid=65534 --groups "$sanwatch_gid" -- \
    /usr/bin/sanwatch report verify --ledger "$work/state/ledger.db" 2>&1) && break
  [[ \$i == 50 ]] && { echo "\$out"; echo "FAIL: group ${unit_group:-$unit_user} cannot read the ledger while the agent runs"; exit 1; }
  sleep 0.1
done
bash "$source_dir/tests/packaging/state_modes.sh" "$work/state" "$unit_user" \
  "${unit_group:-$unit_user}" 0750 0640 ledger.db "\$2"
echo "group ${unit_group:-$unit_user} (uid 65534): report verify ok beside the writer"
EOF_WHILE_RUNNING
chmod 755 "$work/while-running"

say "agent as $unit_user with [$unit_ambient], groups [$unit_groups], umask $unit_umask on $loopdev"
"$python" "$harness" --device "$loopname" --freeze --check "$work/while-running" -- \
  "$work/as-unit" "$unit_user" "${unit_group:-$unit_user}" "$unit_nnp" "$unit_umask" \
  "$unit_bounding" "$unit_ambient" "$unit_groups" -- "${agent[@]}" ||
  fail "the installed agent under the unit's privileges (see above)"
# The ledger is written with those privileges, in the state directory only.
[[ -s $work/state/ledger.db && $(stat -c %U "$work/state/ledger.db") == "$unit_user" ]] ||
  fail "no ledger written by $unit_user in the state directory"
# After a clean stop, before anyone else opened it: same modes, and still
# readable by the group (the agent keeps -wal and -shm, which a group member
# could not create in a 0750 directory; SQLite deletes them on close unless
# told to keep them).
modes=$(bash "$source_dir/tests/packaging/state_modes.sh" "$work/state" "$unit_user" \
  "${unit_group:-$unit_user}" 0750 0640 ledger.db stopped) || fail "${modes#FAIL: }"
say "$modes"
out=$(reader_verify yes 2>&1) ||
  fail "a member of group ${unit_group:-$unit_user} cannot read the stopped agent's ledger: $out"
for f in ledger.db-wal ledger.db-shm; do
  [[ -e $work/state/$f ]] || fail "$f gone after the agent stopped: the agent must keep it"
done
say "group ${unit_group:-$unit_user} (uid 65534, no other group): report verify ok after the stop"
if out=$(reader_verify no 2>&1); then
  fail "uid 65534 outside group ${unit_group:-$unit_user} can read the ledger: it is world-readable"
fi
[[ $out == *"ermission denied"* ]] || fail "uid 65534 outside group ${unit_group:-$unit_user}: \"$out\", expected permission denied"
say "uid 65534 outside group ${unit_group:-$unit_user}: refused ($(head -n 1 <<<"$out" | cut -c1-120))"
# Only now as root: root's read-only open would create a missing -wal and
# -shm itself (and keep them), hiding a ledger that group readers cannot open.
/usr/bin/sanwatch report verify --ledger "$work/state/ledger.db" >/dev/null ||
  fail "the ledger written under the unit's privileges does not verify"
say "ledger: written by $unit_user in StateDirectory, chain verifies"

# One privilege fewer must break it, or the unit grants too much. CAP_SYS_ADMIN
# also covers BPF and perfmon (bpf_capable(), perfmon_capable()), so these run
# without it; what it is for, device-mapper status, needs a dm map (no
# device-mapper on this kernel: see docs/operations.md).
# expect_failure DESCRIPTION BOUNDING GROUPS PATTERN
expect_failure() {
  local what=$1 caps=$2 groups=$3 pattern=$4 rc=0
  timeout -s TERM 5 "$work/as-unit" "$unit_user" "${unit_group:-$unit_user}" "$unit_nnp" "$unit_umask" \
    "$caps" "$caps" "$groups" -- "${agent[@]}" >"$work/neg.log" 2>&1 || rc=$?
  if ! grep -qiE "$pattern" "$work/neg.log"; then
    cat "$work/neg.log"
    fail "$what: expected /$pattern/ in the agent's output (exit status $rc)"
  fi
  say "without $what: fails as expected (exit $rc): $(grep -iE "$pattern" "$work/neg.log" | head -n 1 | cut -c1-200)"
}
base=$(without "$unit_ambient" CAP_SYS_ADMIN)
expect_failure "CAP_SYS_ADMIN and CAP_BPF" "$(without "$base" CAP_BPF)" "$unit_groups" \
  'permission denied|operation not permitted'
expect_failure "CAP_SYS_ADMIN and CAP_PERFMON" "$(without "$base" CAP_PERFMON)" "$unit_groups" \
  'permission denied|operation not permitted'
expect_failure "group disk" "$unit_ambient" "$(without "$unit_groups" disk)" \
  "canary cannot open /dev/$loopname: permission denied"

# alerts.exec hooks run with the agent's identity: they must not inherit its
# capabilities (systemd hands them over as ambient ones, which execve keeps),
# nor its environment (under systemd NOTIFY_SOCKET, INVOCATION_ID, WATCHDOG_*
# and whatever a drop-in sets): clean_environment() in exporters/exec_hook.cpp
# passes PATH and the event's SANWATCH_* only. The hook saves what it got
# from execve (/proc/$$/environ: `env` in dash adds PWD of its own) and, last,
# its capability sets. The hook fires on the "gone" transition when the loop
# device is detached.
mkdir -m 1777 "$work/hook"
cat >"$work/hook.toml" <<EOF
[devices]
include = ["$loopname"]
rescan = "200ms"
[canary]
targets = "none"
[metrics]
listen = "127.0.0.1:0"
[alerts]
exec = ["/bin/sh", "-c", "cat /proc/\$\$/environ > $work/hook/environ; env > $work/hook/env; grep -E '^(Cap|NoNewPrivs)' /proc/self/status > $work/hook/caps"]
EOF
chmod 644 "$work/hook.toml"
# Not through the as_unit function: $! must be the agent itself (as-unit and
# setpriv exec), and no output may stay tied to CTest's pipe. The agent gets
# variables systemd would set, and one SANWATCH_ of its own: none may reach
# the hook.
hook_path=/usr/sbin:/usr/bin:/sbin:/bin
env PATH="$hook_path" INVOCATION_ID=5a7e0000000000000000000000000001 SANWATCH_PKGTEST_AGENT_ONLY=1 \
  "$work/as-unit" "$unit_user" "${unit_group:-$unit_user}" "$unit_nnp" "$unit_umask" \
  "$unit_bounding" "$unit_ambient" "$unit_groups" -- \
  /usr/bin/sanwatch run --config "$work/hook.toml" >"$work/hook.log" 2>&1 </dev/null &
hook_agent=$!
for _ in $(seq 50); do grep -q '"msg":"ready"' "$work/hook.log" && break; sleep 0.1; done
losetup -d "$loopdev" && loopdev=
for _ in $(seq 50); do [[ -s $work/hook/caps ]] && break; sleep 0.1; done
# This agent also has the hook's thread, which drops the ambient set itself.
hook_privs=$(bash "$source_dir/tests/packaging/proc_privileges.sh" --bounding "$unit_bounding" \
  --nnp "$unit_nnp" --user "$unit_user" --group "${unit_group:-$unit_user}" \
  --groups "$unit_groups" "$hook_agent" "with an exec hook") || fail "${hook_privs#FAIL: }"
say "$hook_privs"
kill -TERM "$hook_agent"; wait "$hook_agent" || true
hook_agent=
[[ -s $work/hook/caps ]] || { cat "$work/hook.log"; fail "the exec hook did not run on the gone transition"; }
hook_caps=$(awk '$1 == "CapEff:" || $1 == "CapAmb:" || $1 == "CapPrm:" { printf "%s%s ", $1, $2 }' "$work/hook/caps")
if [[ $hook_caps != "CapPrm:0000000000000000 CapEff:0000000000000000 CapAmb:0000000000000000 " ]]; then
  fail "alerts.exec hooks inherit capabilities ($hook_caps): run_agent must drop the ambient set, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), before anything is exec'd (see docs/operations.md, exec hooks)"
fi
[[ $unit_nnp != yes && $unit_nnp != true ]] || grep -qx 'NoNewPrivs:[[:space:]]*1' "$work/hook/caps" ||
  fail "the exec hook runs without NoNewPrivs although the unit sets NoNewPrivileges=$unit_nnp"
say "exec hook: runs as $unit_user with no capabilities ($hook_caps)"
hook_names=() hook_target='' hook_seen_path=''
while IFS= read -r -d '' kv; do
  name=${kv%%=*}
  hook_names+=("$name")
  [[ $name == PATH || $name == SANWATCH_* ]] ||
    fail "the exec hook's environment has $name (from the agent?): only PATH and SANWATCH_* may pass"
  [[ $name == SANWATCH_PKGTEST_AGENT_ONLY ]] && fail "the agent's own $name reached the exec hook"
  [[ $name == PATH ]] && hook_seen_path=${kv#PATH=}
  [[ $name == SANWATCH_TARGET ]] && hook_target=${kv#SANWATCH_TARGET=}
done <"$work/hook/environ"
[[ $hook_seen_path == "$hook_path" ]] || fail "the exec hook's PATH is \"$hook_seen_path\", not the agent's \"$hook_path\""
[[ $hook_target == "$loopname" ]] || fail "the exec hook's SANWATCH_TARGET is \"$hook_target\", not $loopname"
say "exec hook: clean environment from execve [${hook_names[*]}]; \`env\` in the hook: [$(cut -d= -f1 "$work/hook/env" | paste -sd' ')]"

# --- upgrade ------------------------------------------------------------------
echo "# local change by package_test" >>/etc/sanwatch/sanwatch.toml
dpkg -i "$deb1" </dev/null >"$work/dpkg-re.log" 2>&1 || { cat "$work/dpkg-re.log"; fail "reinstalling the same .deb failed"; }
dpkg -i "$deb2" </dev/null >"$work/dpkg-up.log" 2>&1 || { cat "$work/dpkg-up.log"; fail "upgrade to $version2 failed (a conffile prompt?)"; }
[[ $(dpkg-query -W -f='${Version}' sanwatch) == "$version2" ]] || fail "version after upgrade: $(dpkg-query -W -f='${Version}' sanwatch)"
grep -q "local change by package_test" /etc/sanwatch/sanwatch.toml || fail "the upgrade overwrote the modified conffile"
[[ $(id -u sanwatch) == "$uid" ]] || fail "the upgrade changed sanwatch's uid"
say "upgrade: reinstall and $version -> $version2 ok, local conffile change kept"

# --- remove, purge ----------------------------------------------------------------
dpkg-query -L sanwatch >"$work/files"
dpkg -r sanwatch </dev/null >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
[[ ! -e /usr/bin/sanwatch ]] || fail "dpkg -r left /usr/bin/sanwatch"
[[ -f /etc/sanwatch/sanwatch.toml ]] || fail "dpkg -r removed the conffile (only purge should)"
dpkg --purge sanwatch </dev/null >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg --purge failed"; }
left=()
while read -r f; do
  [[ -e $f && ! -d $f ]] && left+=("$f")
  [[ -d $f && $f == *sanwatch* ]] && left+=("$f/")
done <"$work/files"
[[ -e /etc/sanwatch ]] && left+=(/etc/sanwatch)
getent passwd sanwatch >/dev/null && left+=("user sanwatch")
getent group sanwatch >/dev/null && left+=("group sanwatch")
while read -r f; do left+=("$f"); done < <(find /etc/systemd /var/lib/systemd /lib/systemd /lib/udev \
  -name '*sanwatch*' 2>/dev/null)
((${#left[@]} == 0)) || fail "purge left: ${left[*]}"
[[ -z $(installed_state) || $(installed_state) == not-installed ]] || fail "state after purge: $(installed_state)"
rm -f "$marker"
say "purge: nothing left (files, /etc/sanwatch, user, group, unit state)"
echo "PASS"
