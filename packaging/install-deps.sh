#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian 12 package sanwatch needs to build, test and benchmark.
# Idempotent: packages already present are skipped quickly by apt.
set -euo pipefail

BUILD_DEPS=(
  build-essential cmake ninja-build pkg-config ccache
  clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  liburing-dev libfmt-dev libtomlplusplus-dev prometheus-cpp-dev libmicrohttpd-dev
  nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev libsystemd-dev
  libsqlite3-dev libssl-dev libgnutls28-dev libcrypt-dev libyaml-cpp-dev
)
TEST_DEPS=(
  catch2 fuse3 libfuse3-dev fio util-linux kmod curl prometheus prometheus-alertmanager
  dpkg-dev lintian adduser python3 systemd init-system-helpers procps sqlite3 chromium openssl
)
BENCH_DEPS=(
  libbpf-tools bpftrace ioping
)

missing=()
for p in "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}" "${BENCH_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
