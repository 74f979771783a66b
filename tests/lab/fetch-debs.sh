#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fetch-debs.sh CACHE_DIR PACKAGE...
#
# Userspace a scenario needs from Debian (open-iscsi's iscsid and iscsiadm
# for the iSCSI lab): `apt-get download`s each PACKAGE into CACHE_DIR
# (nothing is installed on the host), unpacks it next to the .deb and prints
# the ELF programs and shared libraries it ships, one path per line, for
# build-initramfs.sh's --bin (they land in the guest's /usr/local/bin; run
# them with LD_LIBRARY_PATH=/usr/local/bin). Cached like the kernel: a
# package already downloaded is not fetched again, so the lab works offline
# once it has run. Exits non-zero when a package cannot be had.
set -euo pipefail

log() { echo "fetch-debs: $*" >&2; }
die() { log "$*"; exit 1; }

# Any cached version will do (the same reasoning as fetch-kernel.sh); a
# failed download on a machine without package lists gets one apt-get update.
download_deb() {
  local cache=$1 pkg=$2 deb
  deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  if [[ -z $deb ]]; then
    log "downloading $pkg"
    if ! (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null 2>&1); then
      apt-get update -qq >/dev/null 2>&1 || true
      (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
        die "apt-get download $pkg failed"
    fi
    deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  fi
  [[ -n $deb ]] || die "no .deb for $pkg in $cache"
  echo "$deb"
}

# Into a temporary directory renamed at the end: an interrupted run never
# leaves a half-unpacked tree that looks finished.
unpack_deb() {
  local deb=$1 dest=$2
  [[ -d $dest ]] && return 0
  rm -rf "$dest.tmp.$$"
  dpkg-deb -x "$deb" "$dest.tmp.$$"
  mv "$dest.tmp.$$" "$dest"
}

is_elf() { [[ $(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n') == '177ELF' ]]; }

list_elf() {
  local dir=$1 f
  while IFS= read -r f; do
    is_elf "$f" && echo "$f"
  done < <(find "$dir"/{sbin,bin,usr/sbin,usr/bin,lib,usr/lib} -type f \
             \( -perm -u+x -o -name '*.so*' \) 2>/dev/null | LC_ALL=C sort)
}

main() {
  (($# >= 2)) || die "usage: $0 CACHE_DIR PACKAGE..."
  local cache=$1 pkg deb dest
  shift
  mkdir -p "$cache"
  cache=$(cd "$cache" && pwd)
  for pkg in "$@"; do
    deb=$(download_deb "$cache" "$pkg")
    dest=$cache/$(basename "$deb" .deb)
    unpack_deb "$deb" "$dest"
    list_elf "$dest"
  done
}

main "$@"
