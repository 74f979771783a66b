#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fetch-kernel.sh CACHE_DIR
#
# Downloads Debian's current 6.1 kernel image package (the one that the
# linux-image-amd64 meta-package depends on), unpacks it into CACHE_DIR and
# prepares its module tree so it can be searched with modules.dep.
# Prints two lines on stdout:
#   the kernel release (e.g. 6.1.0-56-amd64)
#   the directory it was unpacked into (holds boot/vmlinuz-* and lib/modules/*)
# Everything is cached: a second run with the same package costs a few
# apt-cache look-ups and nothing else.
set -euo pipefail

log() { echo "fetch-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

# The versioned package name changes with every ABI bump (6.1.0-56, -57...):
# ask the meta-package rather than hard-coding it.
resolve_image_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

image_package() {
  local pkg
  pkg=$(resolve_image_package)
  if [[ -z $pkg ]]; then
    # Empty package lists on a fresh machine: refresh once and retry.
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(resolve_image_package)
  fi
  [[ -n $pkg ]] || return 1
  echo "$pkg"
}

# Without package lists (and no archive to refresh them from) a kernel
# unpacked by an earlier run still does: the newest one in the cache.
cached_tree() {
  local cache=$1 release
  release=$(find "$cache" -mindepth 2 -maxdepth 2 -path "$cache/linux-image-*/.release" \
              -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -n1 | cut -d' ' -f2-)
  [[ -n $release ]] || return 1
  dirname "$release"
}

# apt-get download writes into the current directory and is skipped when a
# .deb of that package is already cached (any version is fine: it is the
# same ABI name, and a newer upload only appears after apt-get update).
download_deb() {
  local cache=$1 pkg=$2 deb
  deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  if [[ -z $deb ]]; then
    log "downloading $pkg"
    # Sandbox::User=root: _apt cannot write into a root-owned cache dir,
    # and apt would say so on every download.
    (cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
      die "apt-get download $pkg failed"
    deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  fi
  [[ -n $deb ]] || die "no .deb for $pkg in $cache"
  echo "$deb"
}

# Debian 6.1 ships plain .ko files, but later packages compress them; the
# guest's busybox insmod/modprobe cannot read compressed modules.
decompress_modules() {
  local moddir=$1
  find "$moddir" -name '*.ko.xz' -exec xz -d -f {} +
  find "$moddir" -name '*.ko.zst' -exec zstd -q -d --rm -f {} +
  find "$moddir" -name '*.ko.gz' -exec gzip -d -f {} +
}

# Unpacks into a temporary directory and renames it at the end, so an
# interrupted run never leaves a half-unpacked tree that looks finished.
unpack_deb() {
  local deb=$1 dest=$2 tmp release
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  log "unpacking $(basename "$deb")"
  dpkg-deb -x "$deb" "$tmp"
  release=$(ls "$tmp/lib/modules")
  [[ -n $release && -d $tmp/lib/modules/$release ]] || die "no module tree in $deb"
  decompress_modules "$tmp/lib/modules/$release"
  # The package ships no modules.dep: it is generated at install time.
  depmod -b "$tmp" "$release"
  echo "$release" >"$tmp/.release"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

main() {
  (($# == 1)) || die "usage: $0 CACHE_DIR"
  local cache=$1 pkg deb dest
  mkdir -p "$cache"
  cache=$(cd "$cache" && pwd)
  if pkg=$(image_package); then
    deb=$(download_deb "$cache" "$pkg")
    dest="$cache/$(basename "$deb" .deb)"
    [[ -f $dest/.release ]] || unpack_deb "$deb" "$dest"
  elif dest=$(cached_tree "$cache"); then
    log "cannot resolve linux-image-amd64 (no package lists?); using cached $(basename "$dest")"
  else
    die "cannot resolve linux-image-amd64 to a versioned package, and nothing is cached"
  fi
  cat "$dest/.release"
  echo "$dest"
}

main "$@"
