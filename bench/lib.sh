# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # variables set here are read by the sourcing scripts
# bench/lib.sh — shared by bench/detect.sh, bench/footprint.sh,
# bench/scale.sh, bench/ledger.sh and lab-detect.sh, and for its basic helpers
# by run.sh (sourced, not run): pre-flight checks, loop devices, the
# fault-injection disks, filesystems mounted on them, blk-throttle cgroups,
# starting and stopping the agent, and one cleanup trap that undoes all of it
# on success, failure, Ctrl-C, SIGTERM, SIGHUP or a closed output pipe.
#
# Everything a script creates is recorded here as it is created, and only
# that is removed: loop devices this script bound (and, for devices that did
# not exist before it ran, the device itself, through LOOP_CTL_REMOVE), its
# own /dev/shm directory, FUSE mounts, the filesystems it mounted, cgroups
# and processes (by pid). Other people's loop devices and agents on a shared
# machine are never touched.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SANWATCH=${SANWATCH:-$REPO/build/sanwatch}
FAULTDISK=${SANWATCH_FAULTDISK:-$REPO/build/tests/faultdisk/sanwatch-faultdisk}
BL=(python3 "$BENCH_DIR/benchlib.py")
BENCH_NAME=${BENCH_NAME:-bench}

log() { printf '%s\n' "$*" >&2; }
die() { trap - ERR; log "$BENCH_NAME: $*"; exit 1; }

# A missing privilege or kernel feature: skip (77, CTest's SKIP_RETURN_CODE),
# or fail when SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 (as in CI).
skip_or_fail() {
	trap - ERR
	if [[ ${SANWATCH_REQUIRE_PRIVILEGED_TESTS:-} == 1 ]]; then
		log "FAIL: $BENCH_NAME needs $*, and SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 forbids skipping"
		exit 1
	fi
	log "SKIP: $BENCH_NAME needs $*"
	exit 77
}

# preflight [--fuse] TOOL...: root, BTF, loop devices (and FUSE), tools, the binary.
preflight() {
	local fuse=0 t missing=()
	if [[ ${1:-} == --fuse ]]; then fuse=1; shift; fi
	((EUID == 0)) || skip_or_fail "root (effective uid is not 0)"
	[[ -r /sys/kernel/btf/vmlinux ]] || skip_or_fail "kernel BTF (/sys/kernel/btf/vmlinux)"
	[[ -w /dev/loop-control ]] || skip_or_fail "/dev/loop-control"
	if ((fuse)); then
		[[ -w /dev/fuse ]] || skip_or_fail "/dev/fuse"
	fi
	for t in losetup python3 setsid curl "$@"; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	((${#missing[@]} == 0)) || die "missing: ${missing[*]} (packaging/install-deps.sh installs them)"
	if [[ ! -x $SANWATCH ]]; then
		log "$BENCH_NAME: $SANWATCH missing, building it"
		cmake --build "$REPO/build" --target sanwatch >&2 || die "build failed: cmake --build build --target sanwatch"
	fi
	if ((fuse)) && [[ ! -x $FAULTDISK ]]; then
		log "$BENCH_NAME: $FAULTDISK missing, building it"
		cmake --build "$REPO/build" --target sanwatch-faultdisk >&2 || die "build failed: sanwatch-faultdisk"
	fi
	# Processes started in their own session with SIGINT at its default
	# disposition (a non-interactive shell starts background jobs with SIGINT
	# ignored); see bench/run.sh.
	if env --default-signal=INT true 2>/dev/null; then
		SIGINT_DEFAULT=(env --default-signal=INT)
	else
		SIGINT_DEFAULT=()
	fi
	WORK=$(mktemp -d "/tmp/sanwatch-$BENCH_NAME.XXXXXX")
	SHM_DIR=/dev/shm/sanwatch-$BENCH_NAME.$$
	mkdir -p "$SHM_DIR"
	PRE_LOOPS=" $(cd /sys/block && echo loop*) "
	: >"$WORK/meta.tsv"
}

meta() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/meta.tsv"; }

# The machine, as every report (run.sh's too) describes it.
machine_meta() {
	local virt=""
	if command -v systemd-detect-virt >/dev/null; then
		virt="vm: $(systemd-detect-virt --vm 2>/dev/null || true), container: $(systemd-detect-virt --container 2>/dev/null || true)"
	elif grep -qw hypervisor /proc/cpuinfo; then
		virt="hypervisor flag set"
	fi
	meta nproc "$(nproc)"
	meta memory "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	meta cpu "$(awk -F ': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	meta virt "${virt:-none detected}"
	meta kernel "$(uname -r)"
	meta clocksource "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
}

# The sanwatch binary measured, with the commit it was built from.
sanwatch_meta() {
	meta sanwatch "$("$SANWATCH" --version) (git $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "?"))"
}

# Environment lines every report starts with.
common_meta() {
	local others
	others=$(pgrep -c -x sanwatch || true)
	meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	meta command "bench/$BENCH_NAME.sh${ORIG_ARGS:+ $ORIG_ARGS}"
	meta mode "$MODE"
	machine_meta
	sanwatch_meta
	meta load_at_start "loadavg $(cut -d' ' -f1-3 /proc/loadavg); other sanwatch processes running: ${others:-0}"
}

# ------------------------------------------------------------------ state
WORK="" SHM_DIR="" PRE_LOOPS=""
MY_LOOPS=()      # /dev/loopN this script bound (plain ones, over $SHM_DIR)
AGENT_PIDS=()    # agents, each in its own session
OTHER_PIDS=()    # helpers (python trial runner, fake Alertmanager, ioping, run-lab.sh, ledger-cost)
CGROUPS=()       # cgroup directories this script made
CG_LIMITS=()     # "FILE|MAJ:MIN" limits to lift before removing a cgroup
FD_DIR="" FD_MNT="" FD_PID="" FD_LOOP="" FD_CTL=""
FD_OLDER=()      # "DIR|PID|LOOP" of fault disks started before the current one
MY_MOUNTS=()     # filesystems this script mounted (unmounted before their devices go)

# ------------------------------------------------------------------ processes
# stop_pid PID [SECONDS]: SIGTERM (and SIGCONT), then SIGKILL; reaps it.
stop_pid() {
	local pid=$1 secs=${2:-10} i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null
	kill -CONT "$pid" 2>/dev/null
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie child counts as gone
		[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
		log "$BENCH_NAME: pid $pid ignored SIGTERM for ${secs}s, killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
}

drop_pid() { # drop_pid ARRAYNAME PID
	local -n arr=$1
	local out=() p
	for p in "${arr[@]}"; do [[ $p == "$2" ]] || out+=("$p"); done
	arr=("${out[@]}")
}

# run_helper CMD...: runs a helper (python trial runner) in its own session and
# waits for it; a trapped signal interrupts the wait at once, so cleanup can
# release a stalled disk before the helper (blocked in a read) can exit.
run_helper() {
	setsid "$@" </dev/null &
	local pid=$! rc=0
	OTHER_PIDS+=("$pid")
	wait "$pid" || rc=$?
	drop_pid OTHER_PIDS "$pid"
	return "$rc"
}

# ------------------------------------------------------------------ agent
# start_agent TAG CONFIG: starts `sanwatch run`, waits for "ready". Sets
# AGENT_PID, AGENT_LOG, AGENT_T0 (CLOCK_MONOTONIC ns just before exec),
# READY (the ready line), METRICS (host:port), STARTUP_MS.
start_agent() {
	local tag=$1 config=$2
	AGENT_LOG=$WORK/$tag.agent.log
	setsid "${SIGINT_DEFAULT[@]}" "${BL[@]}" exec-timed "$WORK/$tag.t0" \
		"$SANWATCH" run --config "$config" </dev/null >/dev/null 2>"$AGENT_LOG" &
	AGENT_PID=$!
	AGENT_PIDS+=("$AGENT_PID")
	READY=$("${BL[@]}" wait-ready "$AGENT_LOG" --pid "$AGENT_PID" --timeout "${READY_TIMEOUT:-120}") ||
		die "sanwatch run ($tag) did not become ready"
	AGENT_T0=$(cat "$WORK/$tag.t0")
	METRICS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["metrics"])' "$READY")
	STARTUP_MS=$(python3 -c 'import json,sys; print((json.loads(sys.argv[1])["mono_ns"] - int(sys.argv[2])) / 1e6)' \
		"$READY" "$AGENT_T0")
}

# stop_agent: SIGTERM the current agent; sets AGENT_RC and STOP_MS.
stop_agent() {
	local t0 t1
	AGENT_RC=0
	[[ -n ${AGENT_PID:-} ]] || return 0
	t0=$(date +%s%N)
	kill -TERM "$AGENT_PID" 2>/dev/null
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		[[ $(awk '{print $3}' "/proc/$AGENT_PID/stat" 2>/dev/null) == Z ]] && break
		sleep 0.05
	done
	t1=$(date +%s%N)
	if kill -0 "$AGENT_PID" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$AGENT_PID/stat" 2>/dev/null) != Z ]]; then
		log "$BENCH_NAME: sanwatch ignored SIGTERM for 10 s, killing it"
		kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	wait "$AGENT_PID" 2>/dev/null || AGENT_RC=$?
	STOP_MS=$(((t1 - t0) / 1000000))
	drop_pid AGENT_PIDS "$AGENT_PID"
	AGENT_PID=""
}

# ------------------------------------------------------------------ loop devices
# make_loops N SIZE: N loop devices over sparse files in $SHM_DIR (appended
# to MY_LOOPS). losetup -f takes a free device or has /dev/loop-control add one.
# Returns 1 (with a message) if losetup fails, e.g. at a device limit.
make_loops() {
	local n=$1 size=$2 i f dev
	for ((i = 0; i < n; i++)); do
		f=$SHM_DIR/disk.${#MY_LOOPS[@]}.img
		truncate -s "$size" "$f"
		if ! dev=$(losetup --direct-io=on --find --show "$f" 2>"$WORK/losetup.err"); then
			log "$BENCH_NAME: losetup failed after ${#MY_LOOPS[@]} devices: $(cat "$WORK/losetup.err") (max_loop=$(cat /sys/module/loop/parameters/max_loop 2>/dev/null || echo ?))"
			rm -f "$f"
			return 1
		fi
		MY_LOOPS+=("$dev")
	done
}

# Loop devices bound to files in $SHM_DIR: what cleanup detaches even if a
# signal arrived between losetup and recording its device.
shm_loops() {
	[[ -n $SHM_DIR ]] || return 0
	losetup -nO NAME,BACK-FILE 2>/dev/null | awk -v d="$SHM_DIR/" 'index($2, d) == 1 { print $1 }'
}

loop_names() { # names of MY_LOOPS[0..N-1]
	local n=${1:-${#MY_LOOPS[@]}} i
	for ((i = 0; i < n; i++)); do printf '%s\n' "${MY_LOOPS[i]#/dev/}"; done
}

# toml_list NAME...: ["a", "b", ...]
toml_list() {
	local list="" x
	for x in "$@"; do list+="${list:+, }\"$x\""; done
	printf '[%s]' "$list"
}

# Detach the given loop devices (or all of MY_LOOPS), wait for the detach, and
# remove the devices that did not exist before this script ran.
detach_loops() {
	local devs=("$@") d name i new=()
	if ((${#devs[@]} == 0)); then # all of ours
		devs=("${MY_LOOPS[@]}")
		for d in $(shm_loops); do
			[[ " ${devs[*]} " == *" $d "* ]] || devs+=("$d")
		done
	fi
	((${#devs[@]})) || return 0
	# in batches: one losetup per device costs a fork each
	for ((i = 0; i < ${#devs[@]}; i += 64)); do
		losetup -d "${devs[@]:i:64}" 2>/dev/null || {
			for d in "${devs[@]:i:64}"; do
				[[ -e /sys/block/${d#/dev/}/loop/backing_file ]] && { losetup -d "$d" 2>/dev/null ||
					log "$BENCH_NAME: could not detach $d"; }
			done
		}
	done
	for d in "${devs[@]}"; do
		name=${d#/dev/}
		for ((i = 0; i < 100; i++)); do
			[[ -e /sys/block/$name/loop/backing_file ]] || break
			sleep 0.05
		done
		[[ -e /sys/block/$name/loop/backing_file ]] && log "$BENCH_NAME: $d still bound (held open?)"
		[[ $PRE_LOOPS == *" $name "* ]] || new+=("${name#loop}")
	done
	if ((${#new[@]})); then
		"${BL[@]}" loop-remove "${new[@]}" || log "$BENCH_NAME: some loop devices could not be removed"
	fi
	local keep=() m
	for m in "${MY_LOOPS[@]}"; do
		[[ " ${devs[*]} " == *" $m "* ]] || keep+=("$m")
	done
	MY_LOOPS=("${keep[@]}")
}

# ------------------------------------------------------------------ fault disk
# faultdisk_start SIZE_MIB: sanwatch-faultdisk on a fresh mount (a temp dir
# cleanup-leftovers.sh recognises), a direct-I/O loop device on its disk.
# Sets FD_LOOP (/dev/loopN), FD_CTL. A second call starts another disk: the
# FD_* variables then name the new one (save the old ones first), and
# cleanup undoes every disk, the newest first.
faultdisk_start() {
	local i
	if [[ -n $FD_DIR ]]; then
		FD_OLDER+=("$FD_DIR|$FD_PID|$FD_LOOP")
		FD_DIR="" FD_PID="" FD_LOOP=""
	fi
	FD_DIR=$(mktemp -d /tmp/sanwatch-faultdisk.XXXXXX)
	FD_MNT=$FD_DIR/mnt
	FD_CTL=$FD_MNT/ctl
	mkdir "$FD_MNT"
	echo $$ >"$FD_DIR/owner.pid"
	setsid "$FAULTDISK" "$FD_MNT" --size-mib "$1" --exit-with-parent \
		</dev/null >"$FD_DIR/daemon.log" 2>&1 &
	FD_PID=$!
	for ((i = 0; i < 500; i++)); do
		awk -v m="$FD_MNT" '$5 == m && / fuse.sanwatch-faultdisk /' /proc/self/mountinfo | grep -q . && break
		kill -0 "$FD_PID" 2>/dev/null || die "sanwatch-faultdisk exited: $(cat "$FD_DIR/daemon.log")"
		sleep 0.01
	done
	FD_LOOP=$(losetup --direct-io=on --find --show "$FD_MNT/disk") || die "losetup on the fault disk failed"
	[[ $(cat "/sys/block/${FD_LOOP#/dev/}/loop/dio") == 1 ]] || die "$FD_LOOP: direct I/O not enabled"
}

fd_ctl() { # fd_ctl CTL COMMAND...: one ctl write, in a child so a wedged daemon cannot block us
	local ctl=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	timeout 3 sh -c 'printf "%s\n" "$2" > "$1"' sh "$ctl" "$*"
}

fd_cmd() { fd_ctl "$FD_CTL" "$@"; } # fd_cmd COMMAND...: to the current fault disk

# Every fault disk, the newest first.
faultdisk_cleanup() {
	local e
	faultdisk_cleanup_one
	while ((${#FD_OLDER[@]})); do
		e=${FD_OLDER[-1]}
		unset 'FD_OLDER[-1]'
		IFS='|' read -r FD_DIR FD_PID FD_LOOP <<<"$e"
		FD_MNT=$FD_DIR/mnt FD_CTL=$FD_DIR/mnt/ctl
		faultdisk_cleanup_one
	done
}

faultdisk_cleanup_one() {
	[[ -n $FD_DIR && -d $FD_DIR ]] || { FD_DIR=""; return 0; }
	local i
	if [[ -n $FD_PID ]]; then
		fd_cmd reset 2>/dev/null || log "$BENCH_NAME: could not reset the fault disk"
	fi
	if [[ -n $FD_LOOP ]]; then
		detach_loops "$FD_LOOP"
		FD_LOOP=""
	fi
	if awk -v m="$FD_MNT" '$5 == m' /proc/self/mountinfo | grep -q .; then
		if ! timeout 3 fusermount3 -u -q "$FD_MNT"; then
			local id
			id=$(awk -v m="$FD_MNT" '$5 == m { split($3, a, ":"); print a[2] }' /proc/self/mountinfo | tail -n 1)
			[[ -n $id && -w /sys/fs/fuse/connections/$id/abort ]] && echo 1 >"/sys/fs/fuse/connections/$id/abort"
			timeout 3 fusermount3 -u -z -q "$FD_MNT" || umount -l "$FD_MNT" 2>/dev/null
		fi
	fi
	if [[ -n $FD_PID ]]; then
		stop_pid "$FD_PID" 3
		FD_PID=""
	fi
	rm -f "$FD_DIR/daemon.log" "$FD_DIR/owner.pid"
	rmdir "$FD_MNT" "$FD_DIR" 2>/dev/null || log "$BENCH_NAME: could not remove $FD_DIR"
	FD_DIR=""
}

# ------------------------------------------------------------------ filesystems
# mount_fs DEV DIR [MOUNT OPTION...]: mounts DEV on DIR (made if missing),
# recorded first so that cleanup unmounts it whatever happens next.
mount_fs() {
	local dev=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	MY_MOUNTS+=("$dir")
	mount "$@" "$dev" "$dir" || die "mount $dev on $dir failed"
}

# Unmounts what mount_fs mounted, the newest first (lazily if busy).
unmount_all() {
	local i m
	for ((i = ${#MY_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MY_MOUNTS[i]}
		mountpoint -q "$m" 2>/dev/null || continue
		if ! timeout 10 umount "$m" 2>/dev/null; then
			log "$BENCH_NAME: $m busy, unmounting lazily"
			umount -l "$m" 2>/dev/null || log "$BENCH_NAME: could not unmount $m"
		fi
	done
	MY_MOUNTS=()
}

# ------------------------------------------------------------------ cgroups
# cg_create NAME: a blkio (v1) or io (v2) cgroup; sets CG and CG_V1.
cg_create() {
	if [[ -e /sys/fs/cgroup/blkio/cgroup.procs ]]; then
		CG_V1=1
		CG=/sys/fs/cgroup/blkio/sanwatch-bench-$$-$1
	else
		CG_V1=0
		CG=/sys/fs/cgroup/sanwatch-bench-$$-$1
		echo +io >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
	fi
	mkdir "$CG" || die "cannot create cgroup $CG"
	CGROUPS+=("$CG")
}

# cg_limit_file: the file that takes a read-IOPS limit, and how to write one.
cg_limit_file() { if ((CG_V1)); then echo "$CG/blkio.throttle.read_iops_device"; else echo "$CG/io.max"; fi; }

cg_cleanup() {
	local c l f mm pid parent
	for l in "${CG_LIMITS[@]}"; do
		f=${l%%|*} mm=${l#*|}
		[[ -e $f ]] || continue
		if [[ $f == */io.max ]]; then echo "$mm riops=max" >"$f" 2>/dev/null; else echo "$mm 0" >"$f" 2>/dev/null; fi
	done
	CG_LIMITS=()
	for c in "${CGROUPS[@]}"; do
		[[ -d $c ]] || continue
		parent=$(dirname "$c")
		while read -r pid; do
			echo "$pid" >"$parent/cgroup.procs" 2>/dev/null
		done <"$c/cgroup.procs"
		rmdir "$c" 2>/dev/null || log "$BENCH_NAME: could not remove cgroup $c"
	done
	CGROUPS=()
}

# save_raw FILE...: keep the raw data (JSON lines, metadata, agent logs) in
# out/NAME/ next to the results file (bench/out/ is git-ignored), replacing
# the previous run's.
save_raw() {
	local dir
	dir=$(dirname "$RESULTS")/out/$BENCH_NAME
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$@" "$dir"/ 2>/dev/null || true
	log "$BENCH_NAME: raw data in $dir"
}

# ------------------------------------------------------------------ cleanup
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM HUP ERR
	trap '' PIPE
	set +e
	# 1. lift faults first: a helper or agent blocked in a stalled read can exit
	[[ -n $FD_PID ]] && fd_cmd reset 2>/dev/null
	for p in "${FD_OLDER[@]}"; do fd_ctl "${p%%|*}/mnt/ctl" reset 2>/dev/null; done
	# 2. lift blk-throttle limits (throttled reads are then dispatched)
	for p in "${CG_LIMITS[@]}"; do
		local f=${p%%|*} mm=${p#*|}
		if [[ $f == */io.max ]]; then echo "$mm riops=max" >"$f" 2>/dev/null; else echo "$mm 0" >"$f" 2>/dev/null; fi
	done
	# 3. processes: helpers, then agents
	for p in "${OTHER_PIDS[@]}"; do stop_pid "$p" 5; done
	OTHER_PIDS=()
	for p in "${AGENT_PIDS[@]}"; do stop_pid "$p" 10; done
	AGENT_PIDS=()
	# 4. cgroups, filesystems, loop devices, the fault disks, files
	cg_cleanup
	unmount_all
	detach_loops
	faultdisk_cleanup
	[[ -n $SHM_DIR ]] && rm -rf "$SHM_DIR"
	if [[ -n $WORK ]]; then
		if [[ ${BENCH_KEEP:-} == 1 ]]; then log "$BENCH_NAME: kept $WORK"; else rm -rf "$WORK"; fi
	fi
	exit "$rc"
}

install_traps() {
	trap cleanup EXIT
	trap 'trap - ERR; log "$BENCH_NAME: interrupted"; exit 130' INT TERM HUP
	trap 'trap - ERR; exit 141' PIPE
	trap '((BASH_SUBSHELL)) || log "$BENCH_NAME: failed at line $LINENO: $BASH_COMMAND"' ERR
}
