#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One entry point for a fresh Debian 12 machine (as root):
#   ./build.sh run [sanwatch args...]   install deps, build, run the agent
#   ./build.sh test [ctest args...]     install deps, build, run every test, then the
#                                       unit and integration tests under ASan+UBSan
#                                       (SANWATCH_SANITIZER_PASS=0 skips that pass),
#                                       then the threaded parts under TSan
#                                       (SANWATCH_TSAN_PASS=0 skips it), then the
#                                       fuzz targets' regression run
#                                       (SANWATCH_FUZZ_PASS=0 skips it)
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
    rc=0
    # -j: tests that time things or hold loop devices are RUN_SERIAL and so
    # run alone; the rest (unit, rule and doc checks) share the CPUs.
    ctest --test-dir build -j"$(nproc)" --output-on-failure --timeout 600 "$@" || rc=$?
    if [[ ${SANWATCH_SANITIZER_PASS:-1} != 0 ]]; then
      # The unit and integration tests again, built with ASan + UBSan in
      # build-asan (tests/sanitizers/README.md). -O1 -g1: ASan's usual
      # level, line tables for the reports' stacks; half the compile time
      # of -O2 -g. Warnings are not errors there (cmake/CompileFlags.cmake).
      echo "== sanitizer pass (ASan+UBSan, build-asan): unit and integration tests"
      san_start=$SECONDS
      cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSANWATCH_SANITIZE=address,undefined \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
        "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" >/dev/null
      cmake --build build-asan -j"$(nproc)"
      tests/faultdisk/cleanup-leftovers.sh || true
      tests/sanitizers/reports.sh build-asan --clear
      (
        . tests/sanitizers/env.sh build-asan
        # Only the C++ tests: the promtool, dashboard and layer checks run no
        # instrumented code (they passed above). Integration tests mostly
        # wait on injected stalls, so here two run at once unless marked
        # SERIAL (tests/integration/CMakeLists.txt).
        ctest --test-dir build-asan -L 'unit|integration' -E '^(rules_|dashboard_|layers_)' \
          -j"$(nproc)" --output-on-failure --timeout 600 "$@"
      ) || rc=$?
      tests/sanitizers/reports.sh build-asan || rc=$?
      echo "== sanitizer pass took $((SECONDS - san_start)) s"
    fi
    if [[ ${SANWATCH_TSAN_PASS:-1} != 0 ]]; then
      # The threaded parts under ThreadSanitizer (build-tsan): the unit tests
      # of the alert sinks, exec hook, ledger writer, event log and metrics
      # server (tests/unit/CMakeLists.txt, label tsan).
      echo "== TSan pass (build-tsan): the threaded parts"
      tsan_start=$SECONDS
      cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSANWATCH_SANITIZE=thread \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
        "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" >/dev/null
      # And the whole agent once, its event loop, metrics server, Alertmanager
      # sink and exec hook threads together: the alertmanager integration
      # tests (state changes through the real agent to a real Alertmanager).
      cmake --build build-tsan --target sanwatch_unit_tests metrics_tls_test \
        sanwatch sanwatch-faultdisk alertmanager_test -j"$(nproc)"
      tests/faultdisk/cleanup-leftovers.sh || true
      tests/sanitizers/reports.sh build-tsan --clear
      (
        . tests/sanitizers/env.sh build-tsan
        ctest --test-dir build-tsan -L tsan --output-on-failure --timeout 600 &&
          ctest --test-dir build-tsan -R '^alertmanager: ' --output-on-failure --timeout 600
      ) || rc=$?
      tests/sanitizers/reports.sh build-tsan || rc=$?
      echo "== TSan pass took $((SECONDS - tsan_start)) s"
    fi
    if [[ ${SANWATCH_FUZZ_PASS:-1} != 0 ]]; then
      # Every libFuzzer target (tests/fuzz) over its checked-in corpus plus a
      # fixed number of mutations, built with clang, ASan+UBSan and asserts
      # on (no -DNDEBUG: toml++'s own assertions count). The long runs are
      # bench/fuzz.sh's.
      echo "== fuzz regression pass (libFuzzer, build-fuzz)"
      fuzz_start=$SECONDS
      CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSANWATCH_FUZZ=ON -DBUILD_TESTING=OFF \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" >/dev/null
      cmake --build build-fuzz --target fuzz_all -j"$(nproc)"
      ctest --test-dir build-fuzz -L fuzz -j"$(nproc)" --output-on-failure --timeout 600 || rc=$?
      echo "== fuzz regression pass took $((SECONDS - fuzz_start)) s"
    fi
    exit "$rc"
    ;;
  *)
    echo "usage: $0 run|test|build [args...]" >&2
    exit 2
    ;;
esac
