# SPDX-License-Identifier: Apache-2.0
# Warnings, -Werror and sanitizers for sanwatch's own C and C++ targets
# (agent libraries, exporters, the binary, tests, test helpers, bench tools).
# The BPF objects are compiled by cmake/BpfSkeleton.cmake with their own
# flags (always -Wall -Werror) and never with sanitizers.
#
#   -DSANWATCH_WERROR=ON      warnings are errors. Default: ON when the
#                             environment has CI set to a true value
#                             (CI=true), OFF otherwise. Only our code: every
#                             dependency comes in through an imported target
#                             (or pkg-config), whose include directories are
#                             SYSTEM, so its headers' warnings never fail us.
#                             Ignored in a sanitizer build (see below).
#   -DSANWATCH_SANITIZE=address,undefined
#                             ASan + UBSan; UB aborts (no recovery), so a test
#                             that hits it fails.
#   -DSANWATCH_SANITIZE=thread
#                             TSan.
# Run-time options and suppressions: tests/sanitizers/README.md.
# Must be included before the targets are defined.

add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)

set(SANWATCH_SANITIZE "" CACHE STRING
    "Sanitizers for sanwatch's own targets: address,undefined | address | undefined | thread (empty: none)")
set_property(CACHE SANWATCH_SANITIZE PROPERTY STRINGS "" "address,undefined" "address" "undefined" "thread")

set(_sanwatch_werror_default OFF)
if("$ENV{CI}")  # true for CI=true/1/yes/on (CMake's true constants)
  set(_sanwatch_werror_default ON)
endif()
option(SANWATCH_WERROR
       "Treat warnings in sanwatch's own code as errors (default ON when CI=true in the environment)"
       ${_sanwatch_werror_default})
if(SANWATCH_WERROR AND SANWATCH_SANITIZE)
  # GCC's manual: "sanitizers tend to increase the rate of false positive
  # warnings, most notably those around -Wmaybe-uninitialized. We recommend
  # against combining -Werror and [the use of] sanitizers." (gcc 12 does warn
  # inside libstdc++'s <regex>, instantiated by Catch2.) The unsanitized CI
  # build enforces -Werror on the same code.
  message(STATUS "sanwatch: SANWATCH_WERROR ignored in a sanitizer build (false positives)")
elseif(SANWATCH_WERROR)
  # Initializes COMPILE_WARNING_AS_ERROR (-Werror) on every target defined
  # after this point; configuring with --compile-no-warning-as-error
  # ignores it.
  set(CMAKE_COMPILE_WARNING_AS_ERROR ON)
endif()

if(SANWATCH_SANITIZE)
  string(REPLACE "," ";" _sanitizers "${SANWATCH_SANITIZE}")
  foreach(_s IN LISTS _sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "SANWATCH_SANITIZE: unknown sanitizer '${_s}' "
                          "(use address,undefined or thread)")
    endif()
  endforeach()
  if("thread" IN_LIST _sanitizers AND "address" IN_LIST _sanitizers)
    message(FATAL_ERROR "SANWATCH_SANITIZE: thread and address cannot be combined")
  endif()
  list(JOIN _sanitizers "," _sanitize_list)
  set(_sanitize_flags -fsanitize=${_sanitize_list} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _sanitizers)
    # Undefined behaviour aborts the process (a failed test) instead of
    # printing a line and carrying on.
    list(APPEND _sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${_sanitize_flags})
  add_link_options(-fsanitize=${_sanitize_list})
  message(STATUS "sanwatch: sanitizers ${_sanitize_list} on sanwatch's own targets")
endif()

# Hardening, as dpkg-buildflags' hardening=+all gives every Debian package
# (lintian checks the .deb's binary for fortified calls and BIND_NOW):
# fortified libc calls, stack protector and clash protection, CET, full
# RELRO with immediate binding (the GOT read-only after start). Not in
# sanitizer builds: ASan intercepts the same calls and _FORTIFY_SOURCE would
# hide them from it.
option(SANWATCH_HARDENING "Build with Debian's hardening flags (ignored with sanitizers)" ON)
if(SANWATCH_HARDENING AND NOT SANWATCH_SANITIZE)
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong
                      -fstack-clash-protection -fcf-protection)
  add_link_options(-Wl,-z,relro -Wl,-z,now)
endif()
