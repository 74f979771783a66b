#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=dash
# /init of the lab initramfs (busybox sh, PID 1). Prepares a minimal system,
# loads the block modules, runs /scenario.sh under a deadline, prints
#   LAB-RESULT: PASS        or        LAB-RESULT: FAIL <rc>
# on the console and powers the VM off. PID 1 must never exit (the kernel
# would panic; panic=-1 + -no-reboot would still end qemu, but without a
# result line), so every path ends in poweroff -f.
export PATH=/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TERM=dumb

# Written by build-initramfs.sh: LAB_TIMEOUT, LAB_KVER, LAB_BOOT_MODULES.
# shellcheck source=/dev/null
. /lab/config

mount_filesystems() {
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev
  # The kernel opened /dev/console before devtmpfs existed (the cpio may not
  # carry device nodes): reopen stdio on it so everything reaches ttyS0.
  exec </dev/console >/dev/console 2>&1
  mkdir -p /dev/pts /dev/shm /dev/mapper
  mount -t devpts devpts /dev/pts
  mount -t tmpfs tmpfs /tmp
  mount -t tmpfs tmpfs /run
  # tp_btf programs need only /sys/kernel/btf/vmlinux (sysfs); debugfs and
  # tracefs are for humans and for tools that read tracepoint formats.
  mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
}

setup_network() {
  ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
  hostname lab
}

# Dependencies first: LAB_BOOT_MODULES is already in dependency order, but
# modprobe resolves them again from the depmod'ed tree, so order errors
# cannot hang us. scsi_debug is not loaded here: scenarios load it with
# their own parameters.
load_modules() {
  local m
  for m in $LAB_BOOT_MODULES; do
    modprobe "$m" || echo "lab-init: modprobe $m failed"
  done
}

result() {
  if [ "$1" -eq 0 ]; then
    echo "LAB-RESULT: PASS"
  else
    echo "LAB-RESULT: FAIL $1"
  fi
}

halt_vm() {
  sync
  poweroff -f
  # poweroff -f does not return; if it ever does, keep PID 1 alive.
  while :; do sleep 60; done
}

# A process in D state (I/O queued on a map with no path) ignores even
# SIGKILL, so `timeout` alone can wait forever: this backstop powers the VM
# off regardless, a few seconds after the scenario's own deadline.
start_backstop() {
  (
    sleep $((LAB_TIMEOUT + 5))
    echo "lab-init: scenario still running ${LAB_TIMEOUT}s+5s after start (stuck in D state?)"
    result 124
    halt_vm
  ) &
}

main() {
  mount_filesystems
  setup_network
  load_modules
  echo "lab-init: kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime)s, running /scenario.sh (deadline ${LAB_TIMEOUT}s)"
  start_backstop
  local rc=0
  # TERM first so a scenario's traps can clean up, KILL 3 s later.
  timeout -s TERM -k 3 "$LAB_TIMEOUT" sh /scenario.sh || rc=$?
  case $rc in 143 | 137) echo "lab-init: scenario killed at its ${LAB_TIMEOUT}s deadline" ;; esac
  echo "lab-init: scenario exited $rc at $(cut -d' ' -f1 /proc/uptime)s"
  result "$rc"
  halt_vm
}

main
