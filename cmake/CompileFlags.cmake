# Warnings and -Werror for sanwatch's own C and C++ targets
# (agent libraries, exporters, the binary, tests, bench tools). The BPF
# objects are compiled by cmake/BpfSkeleton.cmake, with their own flags
# (always -Wall -Werror) and never with sanitizers.
#
#   -DSANWATCH_WERROR=ON      warnings are errors. Default: ON when the
#                             environment has CI set to a true value
#                             (CI=true), OFF otherwise. Only our code: every
#                             dependency comes in through an imported target
#                             (or pkg-config), whose include directories are
#                             SYSTEM, so its headers' warnings never fail us.
# Must be included before the targets are defined.

add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)

set(_sanwatch_werror_default OFF)
if("$ENV{CI}")  # true for CI=true/1/yes/on (CMake's true constants)
  set(_sanwatch_werror_default ON)
endif()
option(SANWATCH_WERROR
       "Treat warnings in sanwatch's own code as errors (default ON when CI=true in the environment)"
       ${_sanwatch_werror_default})
if(SANWATCH_WERROR)
  # Initializes COMPILE_WARNING_AS_ERROR (-Werror) on every target defined
  # after this point; configuring with --compile-no-warning-as-error
  # ignores it.
  set(CMAKE_COMPILE_WARNING_AS_ERROR ON)
endif()
