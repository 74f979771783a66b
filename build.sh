#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root):
#   ./build.sh run [sanwatch args...]   install deps, build, run the agent
#   ./build.sh test [ctest args...]     install deps, build, run every test
#   ./build.sh build                    install deps and build only
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

mode=${1:-run}
shift || true

./packaging/install-deps.sh
# CI (CI=true) builds our code with warnings as errors (SANWATCH_WERROR,
# whose default follows CI too; explicit here so a tree configured before
# does not keep a cached OFF).
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
ci=${CI:-}
if [[ ${ci,,} =~ ^(true|1|yes|on)$ ]]; then cmake_args+=(-DSANWATCH_WERROR=ON); fi
cmake -S . -B build "${cmake_args[@]}" >/dev/null
cmake --build build -j"$(nproc)"

case "$mode" in
  build) ;;
  run)
    # The agent on its embedded default config (packaging/sanwatch.toml).
    if (($# == 0)); then set -- run; fi
    exec build/sanwatch "$@"
    ;;
  test)
    # Leftovers of a crashed run (loop devices over fault disks) go first.
    tests/faultdisk/cleanup-leftovers.sh || true
    exec ctest --test-dir build --output-on-failure --timeout 600 "$@"
    ;;
  *)
    echo "usage: $0 run|test|build [args...]" >&2
    exit 2
    ;;
esac
