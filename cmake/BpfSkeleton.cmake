# bpf_skeleton(<name> SOURCE <file.bpf.c> [INCLUDES dir...] [FLAGS clang-flag...])
#
# Compiles a CO-RE BPF object with clang and generates <name>.skel.h with
# bpftool. Everything generated stays in the build tree; header dependencies
# of the BPF source are tracked through clang's depfile, so editing a shared
# header rebuilds the object and the skeleton. Defines an INTERFACE target
# <name>_skel whose include directory holds the skeleton.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)

# The BPF code needs clang >= 12: it relies on CO-RE relocations
# (preserve_access_index, BPF_CORE_READ, bpf_core_field_exists: clang 10+)
# and bpf/seed.bpf.c claims in-flight slots with __sync_val_compare_and_swap,
# which clang turns into the BPF atomic compare-and-exchange instruction
# (-mcpu=v3) only from LLVM 12 on. An older clang would fail halfway through
# the build, or (for the CO-RE parts) emit objects that do not relocate;
# fail at configure time instead.
set(SANWATCH_BPF_CLANG_MIN 12)
execute_process(COMMAND ${BPF_CLANG} --version OUTPUT_VARIABLE _bpf_clang_out
                RESULT_VARIABLE _bpf_clang_rc ERROR_QUIET)
if(NOT _bpf_clang_rc EQUAL 0 OR NOT _bpf_clang_out MATCHES "clang version ([0-9]+)\\.([0-9]+)")
  message(FATAL_ERROR "sanwatch: cannot tell the version of ${BPF_CLANG} (--version said: "
                      "'${_bpf_clang_out}'); the BPF objects need clang >= ${SANWATCH_BPF_CLANG_MIN}")
endif()
set(BPF_CLANG_VERSION ${CMAKE_MATCH_1}.${CMAKE_MATCH_2})
if(CMAKE_MATCH_1 LESS SANWATCH_BPF_CLANG_MIN)
  message(FATAL_ERROR
    "sanwatch: ${BPF_CLANG} is clang ${BPF_CLANG_VERSION}, the BPF objects need clang >= "
    "${SANWATCH_BPF_CLANG_MIN}: bpf/seed.bpf.c uses __sync_val_compare_and_swap, which needs "
    "the BPF atomic instructions of -mcpu=v3 (LLVM 12+), and both BPF programs need CO-RE "
    "relocations (preserve_access_index, bpf_core_field_exists). Install a newer clang "
    "(Debian 12's clang package is clang 14) or pass -DBPF_CLANG=/path/to/clang-12-or-later.")
endif()
message(STATUS "sanwatch: BPF compiler ${BPF_CLANG} (clang ${BPF_CLANG_VERSION})")
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "sanwatch: unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(bpf_skeleton name)
  cmake_parse_arguments(ARG "" "SOURCE" "INCLUDES;FLAGS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  set(dep ${out_dir}/${name}.bpf.d)
  get_filename_component(src ${ARG_SOURCE} ABSOLUTE)
  set(inc_flags)
  foreach(dir ${ARG_INCLUDES})
    get_filename_component(abs ${dir} ABSOLUTE)
    list(APPEND inc_flags -I${abs})
  endforeach()
  # asm/types.h lives under the multiarch include dir on Debian.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                  OUTPUT_VARIABLE multiarch OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(multiarch)
    list(APPEND inc_flags -idirafter /usr/include/${multiarch})
  endif()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror ${ARG_FLAGS} ${inc_flags} -MD -MF ${dep} -c ${src} -o ${obj}.tmp
    # Strip DWARF but keep BTF: smaller object embedded in the binary.
    COMMAND ${BPFTOOL} gen object ${obj} ${obj}.tmp
    DEPENDS ${src}
    DEPFILE ${dep}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${out_dir})
endfunction()
