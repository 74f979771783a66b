#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-initramfs.sh --kernel-dir DIR --out FILE --scenario SCRIPT
#                    [--bin PATH]... [--guest-timeout SECONDS] [--base-cache DIR]
#
# Builds the lab's gzip'ed newc cpio:
#   /init                   guest-init.sh (mounts, modules, deadline, result line)
#   /scenario.sh            SCRIPT
#   /lab/guest-lib.sh       helpers the scenarios source
#   /lab/config             deadline, kernel release, modules to load at boot
#   /bin/busybox + applets  static: the whole userland
#   /sbin/dmsetup           host binary + its shared libraries (ldd)
#   /usr/local/bin/*        every --bin PATH + its shared libraries (ldd)
#   /lib/modules/<release>  the block/dm/scsi modules and all their
#                           dependencies, re-depmod'ed so modprobe works
# DIR is the second line printed by fetch-kernel.sh (lib/modules/<release>
# inside, already depmod'ed).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly LAB_DIR

# Modules the lab may need. Loaded at boot: everything but scsi_debug (the
# scenario picks its parameters), ext4 (only the ledger scenario mounts a
# filesystem, on a map) and the SCSI device handlers (scsi_dh_alua
# attaches to scsi_debug's ALUA-capable LUNs and changes what I/O does; a
# scenario that wants it runs `modprobe scsi_dh_alua` before scsi_debug).
readonly REQUIRED_MODULES=(scsi_debug sd_mod dm_mod dm_multipath dm_round_robin dm_delay)
readonly OPTIONAL_MODULES=(dm_queue_length dm_service_time scsi_dh_alua scsi_dh_rdac scsi_dh_emc ext4 crc32c_generic)
readonly NOT_AT_BOOT='^(scsi_debug|scsi_dh_.*|ext4|crc32c_generic)$'
# The iSCSI + ALUA lab (scenarios/iscsi_alua.sh): the LIO target over a RAM
# disk and the open-iscsi initiator's kernel side. Available, never loaded at
# boot, and neither are the dependencies they alone pull in (see
# resolve_iscsi_modules): the scenario loads them in its own order
# (crc32c_generic before any login, configfs before its mount).
readonly ISCSI_MODULES=(configfs target_core_mod target_core_iblock target_core_file iscsi_target_mod
                        iscsi_tcp libiscsi scsi_transport_iscsi crc32c_generic brd)
declare -A ISCSI_ONLY=()
# NVMe/TCP target and host (scenarios/nvme_tcp.sh), the same way (see
# resolve_nvme_modules); sch_prio, sch_netem and cls_u32 delay one port's
# traffic on lo (tc).
readonly NVME_TCP_MODULES=(configfs brd nvme_core nvme_fabrics nvme_tcp nvmet nvmet_tcp crc32c_generic
                           sch_prio sch_netem cls_u32)
declare -A NVME_ONLY=()

log() { echo "build-initramfs: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  die "usage: $0 --kernel-dir DIR --out FILE --scenario SCRIPT [--bin PATH]... [--guest-timeout SECONDS] [--base-cache DIR]"
}

# ---- module dependency resolver -------------------------------------------

# modules.dep lines are "path/name.ko: dep.ko dep.ko ...". Module names are
# compared with '-' folded to '_', as the kernel and modprobe do.
declare -A MOD_PATH=() MOD_DEPS=() MOD_SEEN=()
MOD_ORDER=()

# One awk pass (not a subshell per line: modules.dep has ~4000 lines) turns
# each line into "name path dep_name...".
read_modules_dep() {
  local depfile=$1 name path deps
  while read -r name path deps; do
    MOD_PATH[$name]=$path
    MOD_DEPS[$name]=$deps
  done < <(awk -F': *' '
    function modname(p) { sub(/.*\//, "", p); sub(/\.ko.*/, "", p); gsub(/-/, "_", p); return p }
    {
      n = split($2, deps, " "); line = modname($1) " " $1
      for (i = 1; i <= n; i++) line = line " " modname(deps[i])
      print line
    }' "$depfile")
}

# Depth-first, dependencies before the module: MOD_ORDER ends up in a valid
# load order (insmod in this order never hits an unknown symbol).
resolve_module() {
  local name=$1 dep
  [[ -n ${MOD_SEEN[$name]:-} ]] && return 0
  MOD_SEEN[$name]=1
  [[ -n ${MOD_PATH[$name]:-} ]] || die "module $name not in modules.dep"
  for dep in ${MOD_DEPS[$name]}; do resolve_module "$dep"; done
  MOD_ORDER+=("$name")
}

resolve_wanted_modules() {
  local m
  for m in "${REQUIRED_MODULES[@]}"; do resolve_module "$m"; done
  for m in "${OPTIONAL_MODULES[@]}"; do
    if [[ -n ${MOD_PATH[$m]:-} ]]; then resolve_module "$m"; else log "optional module $m absent, skipped"; fi
  done
  resolve_iscsi_modules
  resolve_nvme_modules
}

# After the others, so whatever lands in MOD_ORDER here is needed by the
# iSCSI lab alone and stays out of the boot list.
resolve_iscsi_modules() {
  local m first=${#MOD_ORDER[@]} i
  for m in "${ISCSI_MODULES[@]}"; do resolve_module "$m"; done
  for ((i = first; i < ${#MOD_ORDER[@]}; i++)); do ISCSI_ONLY[${MOD_ORDER[i]}]=1; done
}

# After the iSCSI ones: what lands in MOD_ORDER here is needed by the NVMe
# lab alone and stays out of the boot list (configfs, brd... are already
# out as the iSCSI lab's).
resolve_nvme_modules() {
  local m first=${#MOD_ORDER[@]} i
  for m in "${NVME_TCP_MODULES[@]}"; do resolve_module "$m"; done
  for ((i = first; i < ${#MOD_ORDER[@]}; i++)); do NVME_ONLY[${MOD_ORDER[i]}]=1; done
}

stage_modules() {
  local kdir=$1 release=$2 root=$3 src dst m
  src=$kdir/lib/modules/$release
  dst=$root/lib/modules/$release
  mkdir -p "$dst"
  for m in "${MOD_ORDER[@]}"; do
    mkdir -p "$dst/$(dirname "${MOD_PATH[$m]}")"
    cp "$src/${MOD_PATH[$m]}" "$dst/${MOD_PATH[$m]}"
  done
  # modprobe needs modules.dep for the subset; builtin/order keep depmod quiet.
  cp "$src"/modules.builtin* "$src"/modules.order "$dst/" 2>/dev/null || true
  depmod -b "$root" "$release"
}

boot_modules() {
  local m boot=()
  for m in "${MOD_ORDER[@]}"; do
    [[ $m =~ $NOT_AT_BOOT || -n ${ISCSI_ONLY[$m]:-} || -n ${NVME_ONLY[$m]:-} ]] || boot+=("$m")
  done
  echo "${boot[*]}"
}

# ---- binaries and their shared libraries ----------------------------------

# Copies one ELF file, keeping the path the dynamic loader will look for.
# Symlinks (libfoo.so.1 -> libfoo.so.1.2.3) are dereferenced: the loader
# asks for the soname, so that is the only name the guest needs.
copy_file() {
  local src=$1 root=$2 dst=${3:-$1}
  mkdir -p "$root/$(dirname "$dst")"
  cp -L "$src" "$root/$dst"
}

copy_libs() {
  local bin=$1 root=$2 lib
  # ldd lines: "libx.so.1 => /lib/.../libx.so.1 (0x...)" and, for the
  # loader, "/lib64/ld-linux-x86-64.so.2 (0x...)". vdso has no file.
  while read -r lib; do
    [[ -e $root/$lib ]] || copy_file "$lib" "$root"
  done < <(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# Debug info is useless in the guest and makes a 10 MB sanwatch; stripping a
# copy keeps the cpio small and fast to compress.
copy_binary() {
  local bin=$1 root=$2 dest_dir=$3 dst
  # Shared libraries (a --deb package's) need not carry the x bit.
  [[ -x $bin || ($bin == *.so* && -f $bin) ]] || die "not an executable: $bin"
  dst=$root/$dest_dir/$(basename "$bin")
  mkdir -p "$root/$dest_dir"
  if command -v strip >/dev/null; then
    strip --strip-debug -o "$dst" "$bin" 2>/dev/null || cp -L "$bin" "$dst"
  else
    cp -L "$bin" "$dst"
  fi
  chmod 0755 "$dst"
  copy_libs "$bin" "$root"
}

stage_busybox() {
  local root=$1 applet
  # busybox-static installs /bin/busybox; copy_libs also covers a dynamic one.
  [[ -x /bin/busybox ]] || die "/bin/busybox missing (run install-lab-deps.sh)"
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
  cp -L /bin/busybox "$root/bin/busybox"
  copy_libs /bin/busybox "$root"
  # --list-full gives each applet's canonical path (bin/sh, sbin/modprobe...).
  while read -r applet; do
    [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
  done < <("$root/bin/busybox" --list-full)
}

# ---- the rest ---------------------------------------------------------------

write_config() {
  local root=$1 timeout=$2 release=$3 modules=$4
  mkdir -p "$root/lab"
  cat >"$root/lab/config" <<CONFIG
LAB_TIMEOUT=$timeout
LAB_KVER=$release
LAB_BOOT_MODULES="$modules"
CONFIG
}

stage_skeleton() {
  local root=$1
  mkdir -p "$root"/{proc,sys,dev,tmp,run,root,etc,mnt,lab} "$root/usr/local/bin"
  # Harmless when not root (the init reopens stdio on devtmpfs' console).
  mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
}

pack() {
  local root=$1 out=$2
  # -R 0:0: files owned by root in the guest whoever built the image.
  # gzip -1: the kernel decompresses it either way; -9 only costs time.
  (cd "$root" && find . -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
  mv "$out.tmp" "$out"
}

# The scenario-independent part (busybox, modules, binaries, init and its
# library) as one archive, cached under --base-cache by a hash of what goes
# in; each scenario then adds a small second archive (the kernel unpacks
# concatenated cpio archives in order). Saves rebuilding ~17 MB per boot.
base_key() {
  local kdir=$1 release=$2 bin
  shift 2
  {
    echo "$release"
    sha256sum "${BASH_SOURCE[0]}" "$LAB_DIR/guest-init.sh" "$LAB_DIR/guest-lib.sh" \
      /bin/busybox "$(command -v dmsetup || echo /sbin/dmsetup)" "$kdir/lib/modules/$release/modules.dep"
    for bin in "$@"; do sha256sum "$bin"; done
  } | sha256sum | cut -c1-16
}

build_base() {
  local kdir=$1 release=$2 out=$3 root bin
  shift 3
  root=$STAGING/base
  mkdir -p "$root"
  stage_skeleton "$root"
  stage_busybox "$root"
  read_modules_dep "$kdir/lib/modules/$release/modules.dep"
  resolve_wanted_modules
  stage_modules "$kdir" "$release" "$root"
  copy_binary "$(command -v dmsetup || echo /sbin/dmsetup)" "$root" sbin
  for bin in "$@"; do copy_binary "$bin" "$root" usr/local/bin; done
  install -m 0755 "$LAB_DIR/guest-init.sh" "$root/init"
  install -m 0644 "$LAB_DIR/guest-lib.sh" "$root/lab/guest-lib.sh"
  # The list first: the archive's rename is what makes the cache entry.
  boot_modules >"${out%.cpio.gz}.modules"
  pack "$root" "$out"
  log "base $out: $(du -h "$out" | cut -f1), modules: ${MOD_ORDER[*]}"
}

# Builds the base into the cache unless it is there; prints its path. The
# lock keeps concurrent runs from building the same base twice; older bases
# (earlier binaries) beyond the newest three are removed.
cached_base() {
  local cache=$1 kdir=$2 release=$3 base
  shift 3
  mkdir -p "$cache"
  base=$cache/base-$(base_key "$kdir" "$release" "$@").cpio.gz
  (
    flock 9
    if [[ ! -s $base ]]; then
      build_base "$kdir" "$release" "$base" "$@" >&2
      ls -1t "$cache"/base-*.cpio.gz | tail -n +4 | sed 's/\.cpio\.gz$//' |
        while read -r old; do rm -f "$old.cpio.gz" "$old.modules"; done
    fi
  ) 9>"$cache/.lock"
  touch "$base"
  echo "$base"
}

main() {
  local kdir="" out="" scenario="" timeout=90 bins=() cache=""
  while (($#)); do
    case $1 in
      --kernel-dir) kdir=${2:?}; shift 2 ;;
      --out) out=${2:?}; shift 2 ;;
      --scenario) scenario=${2:?}; shift 2 ;;
      --bin) bins+=("${2:?}"); shift 2 ;;
      --guest-timeout) timeout=${2:?}; shift 2 ;;
      --base-cache) cache=${2:?}; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -n $kdir && -n $out && -n $scenario ]] || usage
  [[ -f $scenario ]] || die "no scenario $scenario"

  local release base
  release=$(find "$kdir/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | head -n1)
  [[ -f $kdir/lib/modules/$release/modules.dep ]] || die "$kdir: no depmod'ed module tree (run fetch-kernel.sh)"

  STAGING=$(mktemp -d)
  trap 'rm -rf "$STAGING"' EXIT
  if [[ -n $cache ]]; then
    base=$(cached_base "$cache" "$kdir" "$release" "${bins[@]}")
  else
    base=$STAGING/base.cpio.gz
    build_base "$kdir" "$release" "$base" "${bins[@]}" >&2
  fi
  # The scenario's own archive: its script and the config naming the boot
  # modules the base recorded.
  local root=$STAGING/scenario
  mkdir -p "$root/lab"
  install -m 0755 "$scenario" "$root/scenario.sh"
  write_config "$root" "$timeout" "$release" "$(<"${base%.cpio.gz}.modules")"
  pack "$root" "$STAGING/scenario.cpio.gz"
  cat "$base" "$STAGING/scenario.cpio.gz" >"$out.tmp"
  mv "$out.tmp" "$out"
  log "$out: $(du -h "$out" | cut -f1) ($(basename "$base") + $(basename "$scenario"))"
}

main "$@"
