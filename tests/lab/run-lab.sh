#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run-lab.sh --scenario SCRIPT [--bin PATH]... [--deb PACKAGE]... [--timeout SECONDS]
#            [--cache DIR] [--log FILE]
#
# Boots Debian's own kernel (linux-image-amd64, 6.1 on Debian 12) under qemu
# with an initramfs built around SCRIPT, streams the guest console to stdout
# and to a log file, and exits
#    0  the guest printed "LAB-RESULT: PASS"
#    1  anything else (scenario failed, guest or host deadline, qemu error)
#   77  SKIP: a prerequisite is missing (packages cannot be installed, qemu
#       absent, the kernel package or a --deb package cannot be downloaded). With
#       SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 that is a failure (exit 1).
#
# Always TCG (pure emulation): no /dev/kvm needed, the same on every machine.
# (On the development VM nested KVM is broken anyway: -cpu max aborts on
# MSR 0x10a, -cpu host hangs after SeaBIOS.)
# --deb PACKAGE: a Debian package's programs and libraries go into the guest's
# /usr/local/bin as if given with --bin (fetch-debs.sh; cached in CACHE/debs).
# Environment: LAB_KEEP_WORK=1 keeps the work directory (initramfs, raw
# console) for a look by hand.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly LAB_DIR
readonly SKIP_CODE=77
# Time the guest needs outside the scenario: boot to /init is ~3.5 s under
# TCG, poweroff is instant; the rest is slack for a loaded 2-CPU machine.
readonly BOOT_MARGIN=20

QEMU_WRAPPER_PID=""
STREAM_PID=""
WORK_DIR=""
T0=$(date +%s.%N)

log() { echo "run-lab: $*" >&2; }

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

skip() {
  if [[ ${SANWATCH_REQUIRE_PRIVILEGED_TESTS:-} == 1 ]]; then
    echo "FAIL: lab needs $*, and SANWATCH_REQUIRE_PRIVILEGED_TESTS=1 forbids skipping" >&2
    exit 1
  fi
  echo "SKIP: lab needs $*" >&2
  exit "$SKIP_CODE"
}

usage() {
  echo "usage: $0 --scenario SCRIPT [--bin PATH]... [--deb PACKAGE]... [--timeout SECONDS] [--cache DIR] [--log FILE]" >&2
  exit 2
}

# Never leave a qemu behind: the `timeout` wrapper forwards TERM to qemu;
# the pidfile catches a qemu whose wrapper is already gone.
cleanup() {
  local qpid=""
  [[ -n $WORK_DIR && -s $WORK_DIR/qemu.pid ]] && qpid=$(<"$WORK_DIR/qemu.pid")
  if [[ -n $QEMU_WRAPPER_PID ]] && kill -0 "$QEMU_WRAPPER_PID" 2>/dev/null; then
    kill -TERM "$QEMU_WRAPPER_PID" 2>/dev/null || true
    wait "$QEMU_WRAPPER_PID" 2>/dev/null || true
  fi
  if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null &&
     grep -q qemu "/proc/$qpid/cmdline" 2>/dev/null; then
    kill -KILL "$qpid" 2>/dev/null || true
  fi
  if [[ -n $STREAM_PID ]]; then
    kill "$STREAM_PID" 2>/dev/null || true
    wait "$STREAM_PID" 2>/dev/null || true
  fi
  if [[ -n $WORK_DIR && ${LAB_KEEP_WORK:-} == 1 ]]; then
    log "work directory kept: $WORK_DIR"
  elif [[ -n $WORK_DIR ]]; then
    rm -rf "$WORK_DIR"
  fi
}

check_prerequisites() {
  "$LAB_DIR/install-lab-deps.sh" || skip "the lab packages (qemu-system-x86, busybox-static, cpio, dmsetup, kmod; install-lab-deps.sh failed)"
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64"
  [[ -x /bin/busybox ]] || skip "busybox-static (/bin/busybox)"
}

# Sets KVER and KDIR. The lock keeps two concurrent runs from unpacking
# into the same cache at once.
fetch_kernel() {
  local out
  mkdir -p "$CACHE"
  out=$(flock "$CACHE/.lock" "$LAB_DIR/fetch-kernel.sh" "$CACHE") ||
    skip "Debian's kernel package (fetch-kernel.sh failed: no package archive?)"
  KVER=$(sed -n 1p <<<"$out")
  KDIR=$(sed -n 2p <<<"$out")
  [[ -f $KDIR/boot/vmlinuz-$KVER ]] || { log "no vmlinuz-$KVER in $KDIR"; exit 1; }
}

# Appends the --deb packages' programs and libraries to BINS, under the same
# lock as the kernel download.
fetch_debs() {
  local out f
  ((${#DEBS[@]})) || return 0
  out=$(flock "$CACHE/.lock" "$LAB_DIR/fetch-debs.sh" "$CACHE/debs" "${DEBS[@]}") ||
    skip "Debian packages ${DEBS[*]} (fetch-debs.sh failed: no package archive?)"
  while IFS= read -r f; do [[ -n $f ]] && BINS+=("$f"); done <<<"$out"
}

build_initramfs() {
  local args=(--kernel-dir "$KDIR" --out "$WORK_DIR/initramfs.cpio.gz"
              --scenario "$SCENARIO" --guest-timeout "$GUEST_TIMEOUT"
              --base-cache "$CACHE/initramfs")
  local b
  for b in "${BINS[@]}"; do args+=(--bin "$b"); done
  "$LAB_DIR/build-initramfs.sh" "${args[@]}"
}

# qemu runs in the background under a host-side deadline and writes the raw
# serial console to a file; `tail --pid` follows it until qemu is gone, and
# the filter drops CRs and SeaBIOS' terminal escapes (one clears the
# screen) before the text goes to stdout and to $LOG.
run_qemu() {
  local raw=$WORK_DIR/console.raw
  : >"$raw"
  timeout --kill-after=5 "$TIMEOUT" \
    qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 1024 -smp 2 \
      -nographic -no-reboot -nic none \
      -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$WORK_DIR/initramfs.cpio.gz" \
      -append "console=ttyS0 panic=-1 quiet" \
      -pidfile "$WORK_DIR/qemu.pid" \
      </dev/null >"$raw" 2>&1 &
  QEMU_WRAPPER_PID=$!
  tail -n +1 -s 0.2 -f --pid="$QEMU_WRAPPER_PID" "$raw" |
    sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[A-Za-z]//g' |
    tee "$LOG" &
  STREAM_PID=$!
  local rc=0
  wait "$QEMU_WRAPPER_PID" || rc=$?
  QEMU_WRAPPER_PID=""
  wait "$STREAM_PID" 2>/dev/null || true
  STREAM_PID=""
  return "$rc"
}

verdict() {
  local qemu_rc=$1
  if grep -q '^LAB-RESULT: PASS' "$LOG"; then
    log "PASS ($(basename "$SCENARIO"), $(elapsed "$T0") s total, log: $LOG)"
    return 0
  fi
  if ((qemu_rc == 124 || qemu_rc == 137)); then
    log "FAIL: host deadline of ${TIMEOUT}s hit, qemu killed (log: $LOG)"
  elif grep -q '^LAB-RESULT: FAIL' "$LOG"; then
    log "FAIL: guest says: $(grep -a -m1 '^LAB-RESULT: FAIL' "$LOG") (log: $LOG)"
  else
    log "FAIL: no result line from the guest, qemu exited $qemu_rc (log: $LOG)"
  fi
  return 1
}

main() {
  SCENARIO="" TIMEOUT=120 CACHE=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/sanwatch-lab LOG=""
  BINS=() DEBS=()
  while (($#)); do
    case $1 in
      --scenario) SCENARIO=${2:?}; shift 2 ;;
      --bin) BINS+=("${2:?}"); shift 2 ;;
      --deb) DEBS+=("${2:?}"); shift 2 ;;
      --timeout) TIMEOUT=${2:?}; shift 2 ;;
      --cache) CACHE=${2:?}; shift 2 ;;
      --log) LOG=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -n $SCENARIO ]] || usage
  [[ -f $SCENARIO ]] || { log "no scenario $SCENARIO"; exit 2; }
  ((TIMEOUT > BOOT_MARGIN + 10)) || { log "--timeout must exceed $((BOOT_MARGIN + 10))"; exit 2; }
  GUEST_TIMEOUT=$((TIMEOUT - BOOT_MARGIN))
  LOG=${LOG:-$CACHE/logs/$(basename "$SCENARIO" .sh).log}

  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  local t
  t=$(date +%s.%N); check_prerequisites; log "prerequisites: $(elapsed "$t") s"
  t=$(date +%s.%N); fetch_kernel; log "kernel $KVER: $(elapsed "$t") s"
  if ((${#DEBS[@]})); then
    t=$(date +%s.%N); fetch_debs; log "packages ${DEBS[*]}: $(elapsed "$t") s"
  fi
  mkdir -p "$(dirname "$LOG")"
  WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sanwatch-lab.XXXXXX")
  t=$(date +%s.%N); build_initramfs; log "initramfs: $(elapsed "$t") s"
  log "booting (tcg, host deadline ${TIMEOUT}s, guest deadline ${GUEST_TIMEOUT}s)"
  t=$(date +%s.%N)
  local rc=0
  run_qemu || rc=$?
  log "qemu: $(elapsed "$t") s, exit $rc"
  verdict "$rc"
}

main "$@"
