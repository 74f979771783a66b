#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lintian on the Debian package: builds the .deb with cpack (as
# package_test.sh does, into a temporary directory) and fails on any lintian
# error or warning, on an override that no longer matches anything
# (packaging/debian/lintian-overrides), and when the newest entry of
# packaging/debian/changelog does not name the package's version. Info and
# pedantic tags are printed, not fatal. Needs no root; about 10 s.
#
# usage: lintian_test.sh --build-dir DIR --source-dir DIR [--cmake CMAKE] [--cpack CPACK]
set -euo pipefail

build_dir='' source_dir='' cmake=cmake cpack=cpack
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --source-dir) source_dir=$2; shift 2 ;;
    --cmake) cmake=$2; shift 2 ;;
    --cpack) cpack=$2; shift 2 ;;
    *) echo "usage: $0 --build-dir DIR --source-dir DIR [--cmake C] [--cpack C]" >&2
       exit 2 ;;
  esac
done
[[ -n $build_dir && -n $source_dir ]] || { echo "--build-dir and --source-dir are required" >&2; exit 2; }
build_dir=$(realpath "$build_dir") source_dir=$(realpath "$source_dir")

say() { echo "[lintian_test $(date +%T)] $*"; }
fail() { echo "FAIL: $*"; exit 1; }

for tool in lintian dpkg-deb dpkg-parsechangelog dpkg-shlibdeps; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found: run packaging/install-deps.sh (lintian, dpkg-dev)"
done

work=$(mktemp -d /tmp/sanwatch-lintian.XXXXXX)
trap 'rm -rf "$work"' EXIT

say "building the sanwatch target"
"$cmake" --build "$build_dir" --target sanwatch >/dev/null ||
  fail "cmake --build $build_dir --target sanwatch failed"
[[ -f $build_dir/CPackConfig.cmake ]] ||
  fail "$build_dir/CPackConfig.cmake missing: is include(Packaging) in CMakeLists.txt?"
(cd "$work" && "$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/deb" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
debs=("$work"/deb/sanwatch_*.deb)
[[ -f ${debs[0]} ]] || { ls -l "$work/deb"; fail "cpack produced no sanwatch_*.deb"; }
deb=${debs[0]}
version=$(dpkg-deb -f "$deb" Version)
say "$(basename "$deb"): Maintainer: $(dpkg-deb -f "$deb" Maintainer)"

# A native package's changelog.gz is its Debian changelog; lintian checks its
# syntax but not that it speaks of this version.
changelog=$source_dir/packaging/debian/changelog
top=$(dpkg-parsechangelog -l "$changelog" -S Version)
[[ $top == "$version" ]] ||
  fail "the newest entry of packaging/debian/changelog is $top, the package is $version: add an entry for it, by hand in the same format or with devscripts: dch -c packaging/debian/changelog -v $version"

say "lintian --fail-on error,warning $(lintian --version)"
rc=0
# Root gets a warning on stderr ("running with root privileges is not
# recommended"); everything else lintian says is on stdout.
lintian --fail-on error,warning --display-info --pedantic --show-overrides \
  "$deb" >"$work/lintian.out" 2>"$work/lintian.err" || rc=$?
cat "$work/lintian.out"
grep -v 'running with root privileges' "$work/lintian.err" >&2 || true
count() { grep -c "^$1: " "$work/lintian.out" || true; }
say "E: $(count E) W: $(count W) I: $(count I) P: $(count P) O: $(count O) (overridden)"
((rc == 0)) ||
  fail "lintian found errors or warnings (exit $rc): fix them, or override one in packaging/debian/lintian-overrides with the reason"
if grep -qE '^[EWIP]: sanwatch: (unused|mismatched)-override' "$work/lintian.out"; then
  fail "packaging/debian/lintian-overrides has an override that matches nothing any more: remove it"
fi
echo "PASS"
