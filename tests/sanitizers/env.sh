# SPDX-License-Identifier: Apache-2.0
# Run-time options for the tests of a sanitizer build tree (cmake
# -DSANWATCH_SANITIZE=..., cmake/CompileFlags.cmake). Source it, then ctest:
#
#   . tests/sanitizers/env.sh build-asan
#   ctest --test-dir build-asan -L 'unit|integration'
#   tests/sanitizers/reports.sh build-asan     # fails if anything was reported
#
# Every report (ASan, LSan, UBSan, TSan) of every process goes to a file in
# <build dir>/sanitizer-reports/ (<tool>.<pid>), not to stderr: the tests run
# many processes (the agent, the fault-disk daemon, hooks) whose stderr is
# parsed or dropped and whose exit status is not always checked, so a report
# there would be lost. Processes with a finding still exit non-zero (ASan,
# LSan, TSan; UBSan aborts: -fno-sanitize-recover), failing their test.
# The child processes the tests start inherit these variables.

_sanwatch_san_dir=$(cd "${1:?usage: . tests/sanitizers/env.sh <build dir>}" && pwd)/sanitizer-reports
_sanwatch_san_supp=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$_sanwatch_san_dir"
# detect_leaks is ASan's default on x86_64 and arm64; explicit for clarity.
export ASAN_OPTIONS="detect_leaks=1:log_path=$_sanwatch_san_dir/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$_sanwatch_san_dir/ubsan"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:suppressions=$_sanwatch_san_supp/tsan.supp:log_path=$_sanwatch_san_dir/tsan"
unset _sanwatch_san_dir _sanwatch_san_supp
