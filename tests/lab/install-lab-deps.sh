#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the host packages the multipath lab needs (Debian 12, as root).
# Idempotent: prints nothing and touches nothing when all are present.
#
#   qemu-system-x86  boots Debian's own 6.1 kernel (TCG: no /dev/kvm needed)
#   busybox-static   the whole guest userland in one static binary
#   cpio             packs the initramfs
#   dmsetup          the binary and its libraries are copied into the guest
#   kmod             depmod for the unpacked module tree
#   zstd, xz-utils   only needed if a kernel package ships compressed modules
#   iproute2         tc, copied into the guest (nvme_tcp: one port delayed by netem)
set -euo pipefail

readonly LAB_PACKAGES=(qemu-system-x86 busybox-static cpio dmsetup kmod zstd xz-utils iproute2)

missing_packages() {
  local pkg
  for pkg in "${LAB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
      echo "$pkg"
    fi
  done
}

main() {
  local missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) && return 0

  if ((EUID != 0)); then
    echo "install-lab-deps: need root to install: ${missing[*]}" >&2
    return 1
  fi
  echo "install-lab-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has empty package lists; update only when needed.
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

main "$@"
